/**
 * The option table is the one declaration of the daemon's options: the
 * tables of docs/configuration.md are made from it (and must be current:
 * `npm run docs`),
 * the command line takes every flag it declares, the configuration file
 * and the environment every key, and errors name an option the same way
 * in each place.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/config/paths.js';
import { CONFIG_KEYS, envName, importerOptionsFromEnv } from '../../src/config/file.js';
import { configKeysTable, flagsTable, withCurrentTables } from '../../src/config/option-docs.js';
import { fileKey, fileOptionKeys, flagLabel, OPTIONS, optionKeys } from '../../src/config/option-table.js';
import { validateOptions } from '../../src/config/options.js';

/** The page the option tables are written into (scripts/docs.ts). */
const OPTION_DOCS_PAGE = 'docs/configuration.md';

describe('option table', () => {
  it('docs/configuration.md holds the tables as the option table makes them (run `npm run docs` after changing an option)', () => {
    const page = readFileSync(join(PACKAGE_ROOT, OPTION_DOCS_PAGE), 'utf8');
    assert.ok(page.includes(flagsTable()), `${OPTION_DOCS_PAGE}: the flags table is not current: npm run docs`);
    assert.ok(page.includes(configKeysTable()), `${OPTION_DOCS_PAGE}: the configuration keys table is not current: npm run docs`);
    assert.equal(withCurrentTables(page), page, `${OPTION_DOCS_PAGE} is behind the option table: npm run docs`);
  });

  it('the check sees a page that is behind: a changed row, a missing marker', () => {
    const page = withCurrentTables(readFileSync(join(PACKAGE_ROOT, OPTION_DOCS_PAGE), 'utf8'));
    const row = flagsTable().split('\n').find((l) => l.startsWith('| `-D, --dump-slaves'));
    assert.ok(row !== undefined && page.includes(row), 'the --dump-slaves row is on the page');
    const behind = page.replace(row, row.replace('1–20', '1–10'));
    assert.notEqual(behind, page);
    assert.ok(!behind.includes(flagsTable()));
    assert.notEqual(withCurrentTables(behind), behind);
    assert.equal(withCurrentTables(behind), page);
    assert.throws(() => withCurrentTables(page.replace('<!-- /options:config-keys -->', '')), /markers/);
  });

  it('the README no longer holds generated tables (they live in docs/configuration.md)', () => {
    const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
    assert.ok(!readme.includes('<!-- options:'), 'README.md holds an <!-- options:… --> block');
  });

  it('every option is in the docs tables once, and --help lists every flag', () => {
    const flags = flagsTable();
    const keys = configKeysTable();
    const help = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'jp-importer.js'), '--help'], { encoding: 'utf8' }).stdout;
    for (const k of optionKeys()) {
      const d = OPTIONS[k];
      const row = new RegExp(`^\\| \`(-., )?--${d.flag}[ \`]`);
      assert.equal(flags.split('\n').filter((l) => row.test(l)).length, 1, `--${d.flag}: one row in the flags table`);
      assert.ok(help.includes(`--${d.flag} `), `--${d.flag} in --help`);
      if ('short' in d && d.short !== undefined) assert.ok(help.includes(`-${d.short}, --${d.flag}`), `-${d.short} in --help`);
    }
    for (const k of fileOptionKeys()) assert.ok(keys.includes(`\`${envName(fileKey(k))}\``));
  });

  it('the configuration file and the environment take exactly the options the table marks (not --debug, --foreground, --config)', () => {
    assert.deepEqual(Object.values(CONFIG_KEYS).sort(), fileOptionKeys().sort());
    assert.deepEqual(optionKeys().filter((k) => !fileOptionKeys().includes(k)).sort(), ['config', 'debug', 'foreground']);
    const { raw, labels } = importerOptionsFromEnv({ JP_IMPORTER_DUMP_SLAVES: '3', JP_IMPORTER_CADIR: '/ca', JP_IMPORTER_FTP_TLS: 'yes' });
    assert.deepEqual(raw, { dumpSlaves: '3', CAdir: '/ca', ftpTls: true });
    assert.equal(labels['dumpSlaves'], 'environment JP_IMPORTER_DUMP_SLAVES');
  });

  const labelCases: Array<[Parameters<typeof flagLabel>[0], string]> = [
    ['dumpSlaves', '--dump-slaves (-D)'], ['CAdir', '--CAdir (-C)'], ['poll', '--poll (-t)'], ['retryFirst', '--retry-first'],
    ['gridftpDcau', '--gridftp-dcau'], ['allowDir', '--allow-dir'],
  ];
  for (const [key, label] of labelCases) {
    it(`an error about ${key} names ${label}`, () => assert.equal(flagLabel(key), label));
  }

  it('every option parses its own default back (the defaults are valid values)', () => {
    const d = validateOptions({}, {});
    assert.equal(validateOptions({ dumpSlaves: String(d.dumpSlaves), poll: `${d.pollMs}ms`, ftpTimeout: `${d.ftpTimeoutMs}ms` }, {}).dumpSlaves, 1);
  });
});
