import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { JpError } from '../../src/core/errors.js';
import { loadJobmanConfig, parseJobmanConfig } from '../../src/jobman/config.js';

const FILE = '/etc/jp/config.ini';
const DEV = {};
const PROD = { DAPHNE_ENV: 'PRODUCT' };

const base = (dest: string, extra = ''): string => `[DEFAULT]
destination=mom
${extra}
[mom]
${dest}
`;

test('config: SQLite destination, jobman defaults, relative paths against the file', () => {
  const c = parseJobmanConfig(base('driver=sqlite\nurl=data/dest.db\nenv=mom'), FILE, DEV);
  assert.equal(c.mode, 'run');
  assert.equal(c.iqueue, '/etc/jp/iqueue');
  assert.equal(c.oqueue, '/etc/jp/oqueue');
  assert.equal(c.equeue, '/etc/jp/equeue');
  assert.equal(c.sub, '00');
  assert.equal(c.statedir, '/etc/jp/.jp-jobman');
  assert.deepEqual(c.destination, { section: 'mom', target: { driver: 'sqlite', file: '/etc/jp/data/dest.db' }, scriptsDir: '/etc/jp/mom', rowcommit: false });
  assert.deepEqual(c.resultdb, { section: 'resultdb_sqlite3', target: { driver: 'sqlite', file: '/etc/jp/iqueue/00_log.db' }, table: 'messages' });
  assert.equal(c.client, undefined);
});

test('config: queues, sub, statedir and absolute paths', () => {
  const c = parseJobmanConfig(base('driver=sqlite\nurl=/abs/d.db\nenv=/srv/scripts\nrowcommit=True',
    'iqueue=/q/in\noqueue=out\nequeue=../err\nsub=07\nstatedir=state'), FILE, DEV);
  assert.equal(c.iqueue, '/q/in');
  assert.equal(c.oqueue, '/etc/jp/out');
  assert.equal(c.equeue, '/etc/err');
  assert.equal(c.sub, '07');
  assert.equal(c.statedir, '/etc/jp/state');
  assert.equal(c.destination?.scriptsDir, '/srv/scripts');
  assert.equal(c.destination?.rowcommit, true);
  assert.equal(c.resultdb.target.driver === 'sqlite' && c.resultdb.target.file, '/q/in/07_log.db');
});

test('config: postgres and mysql destinations with usr/pwd/host_<env> applied (DAPHNE_ENV)', () => {
  const pgSection = 'driver=postgres\nurl=postgres://127.0.0.1:5432/test\nusr=cmx\npwd=s3:cr@t\nhost_product=db.prod\nhost_develop=db.dev';
  const dev = parseJobmanConfig(base(pgSection), FILE, DEV);
  const prod = parseJobmanConfig(base(pgSection), FILE, PROD);
  const url = (c: typeof dev): URL => {
    const t = c.destination?.target;
    assert.ok(t !== undefined && t.driver !== 'sqlite');
    return new URL(t.url);
  };
  assert.equal(url(dev).hostname, 'db.dev');
  assert.equal(url(prod).hostname, 'db.prod');
  assert.equal(url(dev).port, '5432');
  assert.equal(url(dev).username, 'cmx');
  assert.equal(decodeURIComponent(url(dev).password), 's3:cr@t');
  assert.equal(url(dev).pathname, '/test');
  // DAPHNE_ENV must be exactly PRODUCT
  assert.equal(url(parseJobmanConfig(base(pgSection), FILE, { DAPHNE_ENV: 'product' })).hostname, 'db.dev');

  const my = parseJobmanConfig(base('driver=mysql\nhost_develop=192.0.2.1:3307\nusr=root\ndbs=jobs'), FILE, DEV);
  const t = my.destination?.target;
  assert.ok(t !== undefined && t.driver === 'mysql');
  assert.equal(t.url, 'mysql://root@192.0.2.1:3307/jobs');
  const maria = parseJobmanConfig(base('driver=mysql\nurl=mariadb://u@h/d'), FILE, DEV).destination?.target;
  assert.ok(maria !== undefined && maria.driver === 'mysql');
  assert.equal(maria.url, 'mysql://u@h/d');
  const urlEnv = parseJobmanConfig(base('driver=postgres\nurl_product=postgres://p/db\nurl_develop=postgres://d/db'), FILE, PROD).destination?.target;
  assert.ok(urlEnv !== undefined && urlEnv.driver === 'postgres');
  assert.equal(new URL(urlEnv.url).hostname, 'p');
});

test('config: resultdb variants', () => {
  const s3 = parseJobmanConfig(base('driver=sqlite\nurl=d.db', 'resultdb=sqlite3') + '[resultdb_sqlite3]\nfile=log/results.db\n', FILE, DEV);
  assert.deepEqual(s3.resultdb, { section: 'resultdb_sqlite3', target: { driver: 'sqlite', file: '/etc/jp/log/results.db' }, table: 'messages' });

  const my = parseJobmanConfig(base('driver=sqlite\nurl=d.db', 'resultdb=mysql')
    + '[resultdb_mysql]\nhost_product=192.0.2.10\nhost_develop=127.0.0.1\nusr=jm\npwd=pw\ndbs=jobman\n', FILE, DEV);
  assert.equal(my.resultdb.section, 'resultdb_mysql');
  assert.deepEqual(my.resultdb.target, { driver: 'mysql', url: 'mysql://jm:pw@127.0.0.1/jobman' });
  const myProd = parseJobmanConfig(base('driver=sqlite\nurl=d.db', 'resultdb=mysql')
    + '[resultdb_mysql]\nhost_product=192.0.2.10\nhost_develop=127.0.0.1\nusr=jm\npwd=pw\ndbs=jobman\n', FILE, PROD);
  assert.deepEqual(myProd.resultdb.target, { driver: 'mysql', url: 'mysql://jm:pw@192.0.2.10/jobman' });
  const myUrl = parseJobmanConfig(base('driver=sqlite\nurl=d.db', 'resultdb=mysql') + '[resultdb_mysql]\nurl=mysql://root@127.0.0.1:3306/test\ntable=jm_results\n', FILE, DEV);
  assert.deepEqual(myUrl.resultdb, { section: 'resultdb_mysql', target: { driver: 'mysql', url: 'mysql://root@127.0.0.1:3306/test' }, table: 'jm_results' });

  const pg = parseJobmanConfig(base('driver=sqlite\nurl=d.db', 'resultdb=postgres') + '[resultdb_postgres]\nurl=postgres://postgres@127.0.0.1:5432/test\n', FILE, DEV);
  assert.deepEqual(pg.resultdb.target, { driver: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test' });
});

test('config: client mode needs no destination', () => {
  const c = parseJobmanConfig('[DEFAULT]\nmode=client\n[client]\npostURL_product=https://jobs.example.org/job/add.php\npostURL_develop=http://127.0.0.1/job/add.php\n', FILE, DEV);
  assert.equal(c.mode, 'client');
  assert.equal(c.destination, undefined);
  assert.equal(c.client?.postUrl, 'http://127.0.0.1/job/add.php');
  assert.equal(parseJobmanConfig('[DEFAULT]\nmode=client\n[client]\npostURL_product=https://jobs.example.org/job/add.php\npostURL_develop=http://127.0.0.1/x\n', FILE, PROD).client?.postUrl,
    'https://jobs.example.org/job/add.php');
  // [client] is read in run mode too (the lead may switch modes with a flag)
  const run = parseJobmanConfig(base('driver=sqlite\nurl=d.db') + '[client]\npostURL=http://127.0.0.1:8080/add\n', FILE, DEV);
  assert.equal(run.client?.postUrl, 'http://127.0.0.1:8080/add');
});

test('config: refused configurations name file, section, key, value and rule', () => {
  const cases: { text: string; re: RegExp }[] = [
    // jobman's Oracle form
    { text: base('usr=cmx\npwd=cmx\ntns_product=momprd\ntns_develop=momdev\nenv=mom'), re: /^\/etc\/jp\/config\.ini: \[mom\] driver is missing: required: sqlite \| postgres \| mysql \(the Oracle form with tns_\* is not supported\)$/ },
    { text: base('driver=oracle\nurl=x'), re: /\[mom\] driver = "oracle": must be sqlite, postgres or mysql/ },
    { text: '[DEFAULT]\niqueue=q\n', re: /\[DEFAULT\] destination is missing/ },
    { text: '[DEFAULT]\ndestination=nope\n[mom]\ndriver=sqlite\n', re: /\[DEFAULT\] destination = "nope": there is no section \[nope\]/ },
    { text: base('driver=sqlite'), re: /\[mom\] url is missing: driver = sqlite needs url/ },
    { text: base('driver=sqlite\nurl=:memory:'), re: /\[mom\] url = ":memory:": must be the path/ },
    { text: base('driver=sqlite\nurl=d.db\nrowcommit=maybe'), re: /\[mom\] rowcommit = "maybe": must be True or False/ },
    { text: base('driver=postgres'), re: /\[mom\] url is missing: driver = postgres needs url/ },
    { text: base('driver=postgres\nurl=mysql://h/db'), re: /\[mom\] url = "mysql:\/\/h\/db": must start with postgres:\/\/ or postgresql:\/\// },
    { text: base('driver=postgres\nurl=not a url'), re: /\[mom\] url = "not a url": is not a URL/ },
    { text: base('driver=mysql\nurl=mysql://h'), re: /\[mom\] dbs is missing: no database name/ },
    { text: base('driver=mysql\nurl=mysql://h/d\nport=99999'), re: /\[mom\] port = "99999": must be a port number/ },
    { text: base('driver=postgres\nhost_develop=bad host!\ndbs=x'), re: /\[mom\] host_develop = "bad host!"/ },
    { text: base('driver=sqlite\nurl=d.db', 'resultdb=oracle'), re: /\[DEFAULT\] resultdb = "oracle": must be sqlite3, mysql or postgres/ },
    { text: base('driver=sqlite\nurl=d.db', 'resultdb=mysql'), re: /\[DEFAULT\] resultdb = "mysql": needs a \[resultdb_mysql\] section/ },
    { text: base('driver=sqlite\nurl=d.db', 'resultdb=postgres') + '[resultdb_postgres]\ntable=x\n', re: /\[resultdb_postgres\] url is missing/ },
    { text: base('driver=sqlite\nurl=d.db', 'resultdb=sqlite3') + '[resultdb_sqlite3]\ntable=drop table;\n', re: /\[resultdb_sqlite3\] table = "drop table;": must be an SQL identifier/ },
    { text: base('driver=sqlite\nurl=d.db', 'sub=../x'), re: /\[DEFAULT\] sub = "..\/x": must be one folder name/ },
    { text: base('driver=sqlite\nurl=d.db', 'sub=..'), re: /\[DEFAULT\] sub = "..": must be one folder name/ },
    { text: base('driver=sqlite\nurl=d.db', 'mode=daemon'), re: /\[DEFAULT\] mode = "daemon": must be run or client/ },
    { text: '[DEFAULT]\nmode=client\n', re: /\[client\] posturl_develop is missing/ },
    { text: base('driver=sqlite\nurl=d.db') + '[client]\npostURL=ftp://x/\n', re: /\[client\] posturl = "ftp:\/\/x\/": must be an http/ },
    { text: '[DEFAULT]\ndestination=mom\n[mom]\ndriver=sqlite\n[mom]\n', re: /config\.ini: line 5: section \[mom\] appears twice/ },
  ];
  for (const c of cases) {
    assert.throws(() => parseJobmanConfig(c.text, FILE, DEV), (e: unknown) => {
      assert.ok(e instanceof JpError, c.text);
      assert.equal(e.code, 'JP_CONFIG');
      assert.match(e.message, c.re);
      assert.ok(e.message.startsWith(FILE), e.message);
      return true;
    }, c.text);
  }
});

test('config: secrets never appear in messages', () => {
  assert.throws(() => parseJobmanConfig(base('driver=postgres\nurl=postgres://u:topsecret@h\nport=x'), FILE, DEV), (e: unknown) => {
    assert.ok(e instanceof JpError);
    assert.doesNotMatch(e.message, /topsecret/);
    return true;
  });
  assert.throws(() => parseJobmanConfig(base('driver=postgres\nurl=mysql://u:topsecret@h/d'), FILE, DEV), (e: unknown) => {
    assert.ok(e instanceof JpError);
    assert.doesNotMatch(e.message, /topsecret/);
    assert.match(e.message, /\*\*\*/);
    return true;
  });
});

test('config: loadJobmanConfig reads the file and resolves against its directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jp-jobman-cfg-'));
  try {
    const file = join(dir, 'config.ini');
    writeFileSync(file, base('driver=sqlite\nurl=dest.db'));
    const c = loadJobmanConfig(file, DEV);
    assert.equal(c.file, file);
    assert.equal(c.iqueue, join(dir, 'iqueue'));
    assert.deepEqual(c.destination?.target, { driver: 'sqlite', file: join(dir, 'dest.db') });
    assert.throws(() => loadJobmanConfig(join(dir, 'missing.ini'), DEV), /missing\.ini: cannot read the jobman config file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
