/**
 * jp-importer's configuration file (`--config FILE`, INI) and environment
 * variables, merged with the command line: flags > environment > file >
 * defaults. Every value keeps a label naming where it came from, so that a
 * validation error names the file and key, or the variable.
 *
 *   [importer]      one key per long flag: jpps, reg-mdir, dump-slaves, …
 *   [task NAME]     scheduled tasks (src/schedule)
 *
 * Environment: JP_IMPORTER_<KEY> with dashes as underscores, e.g.
 * JP_IMPORTER_JPPS, JP_IMPORTER_REG_MDIR, JP_IMPORTER_DUMP_SLAVES.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { describeError, JpError } from '../core/errors.js';
import { parseIniBoolean, parseIniFile, type IniFile } from './ini.js';
import { fileKey, fileOptionKeys, OPTIONS, type OptionDecl, type RawOptions, type TextKind } from './option-table.js';

/** Key in the file / environment → key of RawOptions (from the option table). */
export const CONFIG_KEYS: Readonly<Record<string, string>> = Object.fromEntries(fileOptionKeys().map((k) => [fileKey(k), k]));
const TEXT_KINDS: ReadonlyMap<string, TextKind> = new Map(fileOptionKeys().map((k) => [fileKey(k), (OPTIONS[k] as OptionDecl<unknown>).text ?? 'plain']));
export const IMPORTER_SECTION = 'importer';
export const TASK_SECTION = /^task\s+\S/;

export interface LabelledOptions {
  readonly raw: RawOptions;
  /** RawOptions key → where the value came from. */
  readonly labels: Record<string, string>;
}

export interface ConfigFile extends LabelledOptions {
  readonly path: string;
  readonly ini: IniFile;
}

function convert(key: string, value: string, label: string, baseDir: string): unknown {
  const kind = TEXT_KINDS.get(key) ?? 'plain';
  if (kind === 'boolean') {
    const b = parseIniBoolean(value);
    if (b === undefined) throw new JpError('JP_CONFIG', `${label}: must be true or false, got ${JSON.stringify(value)}`);
    return b;
  }
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if (kind === 'paths') return value.split(/[\s,]+/).filter((v) => v.length > 0).map(abs);
  return kind === 'path' && value.length > 0 ? abs(value) : value;
}

/** Pure: the [importer] section of a parsed file (relative paths resolved against the file's directory). */
export function importerOptionsFromIni(ini: IniFile, file: string): LabelledOptions {
  const raw: RawOptions = {};
  const labels: Record<string, string> = {};
  for (const name of ini.sections.keys()) {
    if (name !== IMPORTER_SECTION && !TASK_SECTION.test(name)) {
      throw new JpError('JP_CONFIG', `${file}: unknown section [${name}] (expected [importer] or [task NAME])`);
    }
  }
  const section = ini.sections.get(IMPORTER_SECTION);
  if (section === undefined) return { raw, labels };
  for (const [key, value] of section) {
    const label = `${file} [importer] ${key}`;
    const rawKey = CONFIG_KEYS[key];
    if (rawKey === undefined) throw new JpError('JP_CONFIG', `${label}: unknown key (see docs/configuration.md)`);
    raw[rawKey] = convert(key, value, label, dirname(file));
    labels[rawKey] = label;
  }
  return { raw, labels };
}

export function loadConfigFile(path: string): ConfigFile {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new JpError('JP_CONFIG', `--config: cannot read ${file}: ${describeError(e)}`);
  }
  const ini = parseIniFile(text, file);
  return { path: file, ini, ...importerOptionsFromIni(ini, file) };
}

export function envName(key: string): string {
  return `JP_IMPORTER_${key.toUpperCase().replace(/-/g, '_')}`;
}

/** Pure: options from JP_IMPORTER_* variables (relative paths against the current directory). */
export function importerOptionsFromEnv(env: NodeJS.ProcessEnv): LabelledOptions {
  const raw: RawOptions = {};
  const labels: Record<string, string> = {};
  for (const [key, rawKey] of Object.entries(CONFIG_KEYS)) {
    const name = envName(key);
    const value = env[name];
    if (value === undefined) continue;
    const label = `environment ${name}`;
    raw[rawKey] = convert(key, value, label, process.cwd());
    labels[rawKey] = label;
  }
  return { raw, labels };
}

/** flags > environment > file > defaults (defaults are applied by validateOptions). */
export function mergeOptions(flags: RawOptions, env: LabelledOptions, file: LabelledOptions | undefined): LabelledOptions {
  const raw: RawOptions = { ...(file?.raw ?? {}), ...env.raw };
  const labels: Record<string, string> = { ...(file?.labels ?? {}), ...env.labels };
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined) continue;
    raw[k] = v;
    delete labels[k];
  }
  return { raw, labels };
}
