/** The systemd files: verified by systemd-analyze, tmpfiles applied to a scratch root, sample config valid. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile, mergeOptions } from '../../src/config/file.js';
import { validateOptions } from '../../src/config/options.js';
import { tasksOf } from '../../src/daemon/tasks.js';
import { projectFile } from '../helpers/certs.js';
import { tempDir } from '../helpers/tmp.js';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const units = ['jp-importer.service', 'lb-dump-exporter.service', 'lb-dump-exporter.timer'];

test('systemd units pass systemd-analyze verify', (t) => {
  if (!has('systemd-analyze')) {
    t.skip('systemd-analyze is not installed');
    return;
  }
  const dir = dirname(projectFile('systemd/jp-importer.service'));
  const r = spawnSync('systemd-analyze', ['verify', ...units.map((u) => join(dir, u))], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warnings');
});

test('the service runs the daemon in the foreground with hardening and a reload action', () => {
  const unit = readFileSync(projectFile('systemd/jp-importer.service'), 'utf8');
  for (const line of ['--foreground', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'PrivateTmp=yes', 'ReadWritePaths=/var/spool/jp-importer',
    'Restart=on-failure', 'ExecReload=/bin/kill -HUP $MAINPID']) {
    assert.ok(unit.includes(line), line);
  }
});

test('tmpfiles.d creates the spool directories with the right modes', async (t) => {
  if (!has('systemd-tmpfiles')) {
    t.skip('systemd-tmpfiles is not installed');
    return;
  }
  const root = await tempDir(t);
  const conf = join(root, 'jp-importer.conf');
  // the scratch root has no user "glite": create as root
  writeFileSync(conf, readFileSync(projectFile('systemd/jp-importer.tmpfiles.conf'), 'utf8').replace(/glite glite/g, '-     -'));
  execFileSync('systemd-tmpfiles', ['--create', `--root=${root}`, conf]);
  const mode = (p: string) => statSync(join(root, p)).mode & 0o777;
  for (const s of ['reg', 'dump', 'sandbox']) {
    for (const d of ['', '/tmp', '/new', '/cur', '/post', '/undeliverable']) assert.equal(mode(`var/spool/jp-importer/${s}${d}`), 0o700, `${s}${d}`);
  }
  assert.equal(mode('var/spool/jp-importer/dump-files'), 0o750);
  assert.equal(mode('var/spool/jp-importer/sandbox-tars'), 0o700);
});

test('the sample configuration file is valid, tasks included', () => {
  const file = loadConfigFile(projectFile('systemd/jp-importer.conf'));
  const m = mergeOptions({}, { raw: {}, labels: {} }, file);
  const o = validateOptions(m.raw, {}, m.labels);
  assert.deepEqual(tasksOf(file, o).map((t) => `${t.name}:${t.action}`), ['export-dumps:export-dumps', 'clean-tmp:clean-tmp']);
  assert.equal(o.dumpSlaves, 2);
  assert.equal(o.metrics, '127.0.0.1:9464');
  assert.deepEqual(o.allowDirs, ['/var/spool/jp-importer/dump-files']);
});

test('least privilege: the service is not root, has no capabilities, and can write only the spool tree and its runtime directory, where the sample configuration keeps the allowed directories and the store', () => {
  const unit = readFileSync(projectFile('systemd/jp-importer.service'), 'utf8');
  const values = (key: string): string[] => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1).trim());
  assert.deepEqual(values('User'), ['glite']);
  assert.deepEqual(values('CapabilityBoundingSet'), ['']);
  assert.deepEqual(values('ProtectSystem'), ['strict']);
  const writable = values('ReadWritePaths').flatMap((v) => v.split(/\s+/));
  assert.deepEqual(writable, ['/var/spool/jp-importer', '/run/jp-importer']);
  const file = loadConfigFile(projectFile('systemd/jp-importer.conf'));
  const m = mergeOptions({}, { raw: {}, labels: {} }, file);
  const o = validateOptions(m.raw, {}, m.labels);
  const stores = tasksOf(file, o).flatMap((t) => (t.action === 'export-dumps' ? [t.dumps, t.store] : []));
  assert.ok(stores.length > 0, 'the sample configuration has an export task');
  for (const p of [...o.allowDirs, ...stores, o.store, o.regMdir, o.dumpMdir, o.sandboxMdir].filter((x): x is string => typeof x === 'string')) {
    assert.ok(writable.some((w) => p === w || p.startsWith(`${w}/`)), `${p} lies under ReadWritePaths`);
  }
});
