/**
 * The docs tables of the daemon's options, made from the option table
 * (./option-table.ts): the flags (docs/configuration.md "Command line") and
 * the configuration file keys with their environment variables
 * (docs/configuration.md "Configuration file"). `npm run docs` writes them
 * into that page between `<!-- options:NAME -->` markers; a test fails when
 * the page is behind.
 */
import { envName } from './file.js';
import { fileKey, fileOptionKeys, OPTIONS, optionKeys, type OptionDecl, type OptionKey } from './option-table.js';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

function flags(key: OptionKey): string {
  const d: OptionDecl<unknown> = OPTIONS[key];
  const arg = d.arg === undefined ? '' : ` ${d.arg}`;
  return `\`${d.short === undefined ? '' : `-${d.short}, `}--${d.flag}${arg}\``;
}

/** flag | meaning | default, one row per option. */
export function flagsTable(): string {
  const rows = ['| flag | meaning | default |', '|---|---|---|', '| `-h, --help` | usage | |'];
  for (const k of optionKeys()) {
    const d: OptionDecl<unknown> = OPTIONS[k];
    rows.push(`| ${cell(flags(k))} | ${cell(d.docs)} |${d.shownDefault === '' ? '' : ` ${cell(d.shownDefault)}`} |`);
  }
  return rows.join('\n');
}

/** file key | flag | environment variable, for every option the file and the environment take. */
export function configKeysTable(): string {
  const rows = ['| key (`[importer]`) | flag | environment |', '|---|---|---|'];
  for (const k of fileOptionKeys()) rows.push(`| \`${fileKey(k)}\` | ${cell(flags(k))} | \`${envName(fileKey(k))}\` |`);
  return rows.join('\n');
}

export const GENERATED_TABLES: Readonly<Record<string, () => string>> = { flags: flagsTable, 'config-keys': configKeysTable };

/** The text with every `<!-- options:NAME -->` … `<!-- /options:NAME -->` block made current. */
export function withCurrentTables(text: string): string {
  let out = text;
  for (const [name, make] of Object.entries(GENERATED_TABLES)) {
    const start = `<!-- options:${name} -->`;
    const end = `<!-- /options:${name} -->`;
    const a = out.indexOf(start);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`the markers ${start} … ${end} are missing`);
    out = `${out.slice(0, a + start.length)}\n${make()}\n${out.slice(b)}`;
  }
  return out;
}
