/**
 * A small INI parser with the semantics of Python's configparser as jobman
 * uses it (RawConfigParser: no interpolation), pure and table-tested. Used
 * for jobman's config.ini and for jp-importer's own configuration file.
 *
 * Why not the `ini` package: it nests section names at dots, turns `key[]`
 * into arrays and true/false into booleans, strips `;`/`#` anywhere in a
 * value (breaking passwords and URLs), has no `:` delimiter and no
 * [DEFAULT] inheritance. jobman's files are configparser files.
 *
 * Rules:
 * - `[section]` headers; names are case-sensitive, `DEFAULT` is special:
 *   its keys are inherited by every other section.
 * - `key = value` or `key: value` (first delimiter wins); keys are trimmed
 *   and lower-cased (configparser's optionxform); values are trimmed.
 * - Whole-line comments start with `#` or `;`. An inline comment starts at a
 *   `;` or `#` preceded by whitespace (so `pwd=a;b` and URLs keep their text).
 * - An indented line continues the previous value (joined with a newline).
 * - A duplicate section or a duplicate key in one section is an error
 *   (configparser's strict mode), as is a key before any section header.
 * - `%` is not special (no interpolation).
 */
import { JpError } from '../core/errors.js';

export interface IniFile {
  /** Keys of [DEFAULT] (lower-case). */
  readonly defaults: ReadonlyMap<string, string>;
  /** Other sections in file order; each map holds only its own keys. */
  readonly sections: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

export class IniSyntaxError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'IniSyntaxError';
    this.line = line;
  }
}

export const DEFAULT_SECTION = 'DEFAULT';

function stripInlineComment(value: string): string {
  const m = /\s[;#]/.exec(value);
  return (m === null ? value : value.slice(0, m.index)).trim();
}

export function parseIni(text: string): IniFile {
  const defaults = new Map<string, string>();
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let lastKey: string | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    if (raw.trim() === '') {
      lastKey = undefined;
      return;
    }
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) return;
    if (/^\s/.test(raw) && lastKey !== undefined && current !== undefined) {
      current.set(lastKey, `${current.get(lastKey) ?? ''}\n${stripInlineComment(trimmed)}`);
      return;
    }
    if (trimmed.startsWith('[')) {
      const m = /^\[([^\]]+)\]\s*(?:[;#].*)?$/.exec(trimmed);
      if (m === null) throw new IniSyntaxError(lineNo, `bad section header ${JSON.stringify(trimmed)}`);
      const name = (m[1] as string).trim();
      if (name === '') throw new IniSyntaxError(lineNo, 'empty section name');
      if (name === DEFAULT_SECTION) {
        current = defaults;
      } else {
        if (sections.has(name)) throw new IniSyntaxError(lineNo, `section [${name}] appears twice`);
        current = new Map();
        sections.set(name, current);
      }
      lastKey = undefined;
      return;
    }
    const d = /[=:]/.exec(trimmed);
    if (d === null) throw new IniSyntaxError(lineNo, `expected "key = value", found ${JSON.stringify(trimmed)}`);
    const key = trimmed.slice(0, d.index).trim().toLowerCase();
    if (key === '') throw new IniSyntaxError(lineNo, 'empty key');
    if (current === undefined) throw new IniSyntaxError(lineNo, `key "${key}" before any [section] header`);
    if (current.has(key)) throw new IniSyntaxError(lineNo, `key "${key}" appears twice in the same section`);
    current.set(key, stripInlineComment(trimmed.slice(d.index + 1)));
    lastKey = key;
  });
  return { defaults, sections };
}

/** A section's view with [DEFAULT] inheritance (configparser semantics). */
export function sectionView(ini: IniFile, name: string): ReadonlyMap<string, string> | undefined {
  if (name === DEFAULT_SECTION) return ini.defaults;
  const own = ini.sections.get(name);
  if (own === undefined) return undefined;
  return new Map([...ini.defaults, ...own]);
}

/** configparser's getboolean(). undefined when the text is not a boolean. */
export function parseIniBoolean(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'no', 'false', 'off'].includes(v)) return false;
  return undefined;
}

/** parseIni for a configuration file: a syntax error becomes a JP_CONFIG error naming the file. */
export function parseIniFile(text: string, file: string): IniFile {
  try {
    return parseIni(text);
  } catch (e) {
    if (e instanceof IniSyntaxError) throw new JpError('JP_CONFIG', `${file}: ${e.message}`);
    throw e;
  }
}
