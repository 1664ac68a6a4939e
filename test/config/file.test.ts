import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { envName, importerOptionsFromEnv, importerOptionsFromIni, loadConfigFile, mergeOptions } from '../../src/config/file.js';
import { parseIni } from '../../src/config/ini.js';
import { validateOptions } from '../../src/config/options.js';
import { isJpError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/tmp.js';

test('[importer] keys become options; relative paths resolve against the file; lists and booleans convert', () => {
  const ini = parseIni('[importer]\njpps = jp.example.org:8900\nreg-mdir = spool/reg\nallow-dir = /a, b  /c\nftp-tls = yes\ndump-slaves = 3\nCAdir = ca\n');
  const { raw, labels } = importerOptionsFromIni(ini, '/etc/jp/jp-importer.conf');
  assert.deepEqual(raw, {
    jpps: 'jp.example.org:8900', regMdir: '/etc/jp/spool/reg', allowDir: ['/a', '/etc/jp/b', '/c'], ftpTls: true, dumpSlaves: '3', CAdir: '/etc/jp/ca',
  });
  assert.equal(labels['dumpSlaves'], '/etc/jp/jp-importer.conf [importer] dump-slaves');
});

const refused: [string, string, RegExp][] = [
  ['unknown key', '[importer]\ncolour = blue\n', /f\.conf \[importer\] colour: unknown key/],
  ['unknown section', '[importr]\njpps = h:1\n', /f\.conf: unknown section \[importr\]/],
  ['bad boolean', '[importer]\nftp-tls = maybe\n', /f\.conf \[importer\] ftp-tls: must be true or false, got "maybe"/],
];
for (const [name, text, want] of refused) {
  test(`config file refused: ${name}`, () => {
    assert.throws(() => importerOptionsFromIni(parseIni(text), '/x/f.conf'), (e: unknown) => isJpError(e, 'JP_CONFIG') && want.test(e.message));
  });
}

test('[task NAME] sections are left to the scheduler', () => {
  assert.deepEqual(importerOptionsFromIni(parseIni('[task prune]\nschedule = 0 3 * * *\n'), '/f').raw, {});
});

const envCases: [string, string][] = [['jpps', 'JP_IMPORTER_JPPS'], ['reg-mdir', 'JP_IMPORTER_REG_MDIR'], ['cadir', 'JP_IMPORTER_CADIR']];
for (const [k, v] of envCases) test(`envName(${k}) = ${v}`, () => assert.equal(envName(k), v));

test('precedence: flags > environment > file > defaults, and errors name the source', () => {
  const file = importerOptionsFromIni(parseIni('[importer]\njpps = file:1\npoll = 5\nconcurrency = 3\ndump-slaves = 2\n'), '/f.conf');
  const env = importerOptionsFromEnv({ JP_IMPORTER_JPPS: 'env:1', JP_IMPORTER_POLL: '7' });
  const m = mergeOptions({ jpps: 'flag:1', concurrency: undefined }, env, file);
  const o = validateOptions(m.raw, {}, m.labels);
  assert.equal(o.jpps, 'flag:1');
  assert.equal(o.pollMs, 7000);
  assert.equal(o.concurrency, 3);
  assert.equal(o.dumpSlaves, 2);
  assert.equal(o.timeoutMs, 120_000, 'default');
  const bad = mergeOptions({}, importerOptionsFromEnv({ JP_IMPORTER_DUMP_SLAVES: 'x' }), file);
  assert.throws(() => validateOptions(bad.raw, {}, bad.labels), /environment JP_IMPORTER_DUMP_SLAVES: must be an integer from 1 to 20, got "x"/);
  const badFile = importerOptionsFromIni(parseIni('[importer]\nretry-first = soon\n'), '/f.conf');
  const m2 = mergeOptions({}, { raw: {}, labels: {} }, badFile);
  assert.throws(() => validateOptions(m2.raw, {}, m2.labels), /\/f\.conf \[importer\] retry-first: must be a duration/);
});

test('loadConfigFile: unreadable file and syntax errors name the file', async (t) => {
  const dir = await tempDir(t);
  assert.throws(() => loadConfigFile(join(dir, 'missing.conf')), /--config: cannot read .*missing\.conf/);
  writeFileSync(join(dir, 'bad.conf'), 'jpps = x\n');
  assert.throws(() => loadConfigFile(join(dir, 'bad.conf')), (e: unknown) => isJpError(e, 'JP_CONFIG') && /bad\.conf/.test(e.message));
});
