import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { parseIni } from '../../src/config/ini.js';
import { parseTasks, type TaskContext } from '../../src/schedule/parse.js';
import type { TaskSpec } from '../../src/schedule/types.js';

const FILE = '/etc/jp/importer.ini';
const SPOOLS = [
  { name: 'reg', root: '/s/reg' },
  { name: 'dump', root: '/s/dump' },
  { name: 'sandbox', root: '/s/sandbox' },
];
const CTX: TaskContext = { dumpMdir: '/var/spool/jp/dump', store: '/var/lib/jp/store', spools: SPOOLS };

function parse(text: string, ctx: TaskContext = CTX): TaskSpec[] {
  return parseTasks(parseIni(text), FILE, ctx);
}

function only(text: string, ctx: TaskContext = CTX): TaskSpec {
  const tasks = parse(text, ctx);
  assert.equal(tasks.length, 1);
  return tasks[0] as TaskSpec;
}

describe('parseTasks: valid sections', () => {
  const cases: { name: string; text: string; ctx?: TaskContext; want: Record<string, unknown> }[] = [
    {
      name: 'export-dumps, every key, relative paths resolved against the file',
      text: `[task nightly export]
schedule = 0 3 * * *   ; at three
action = export-dumps
timeout = 30m
dumps = dumps
store = /var/lib/jp/store/jobs
lbmaildir = ../spool/dump
jpps = jp.example.org:8901
done = /archive/done
failed = bad
skip-bad-lines = yes`,
      ctx: { ...CTX, allowDirs: ['/var/lib/jp/store'] },
      want: {
        name: 'nightly export', action: 'export-dumps', schedule: '0 3 * * *', overdueMs: 1_800_000,
        dumps: '/etc/jp/dumps', store: '/var/lib/jp/store/jobs', lbmaildir: '/etc/spool/dump', jpps: 'jp.example.org:8901',
        done: '/archive/done', failed: '/etc/jp/bad', skipBadLines: true, source: `${FILE} [task nightly export]`,
      },
    },
    {
      name: 'export-dumps defaults',
      text: '[task e]\nschedule = */5 * * * *\naction = export-dumps\ndumps = /d\nstore = /st',
      want: {
        action: 'export-dumps', dumps: '/d', store: '/st', lbmaildir: '/var/spool/jp/dump', done: '/d/done', failed: '/d/failed',
        skipBadLines: false, jpps: undefined, overdueMs: undefined,
      },
    },
    {
      name: 'prune-store defaults to the importer store and 30 days',
      text: '[task p]\nschedule = 0 4 * * *\naction = prune-store',
      want: { action: 'prune-store', dir: '/var/lib/jp/store', olderThanMs: 30 * 86_400_000 },
    },
    {
      name: 'prune-store with dir and older-than',
      text: '[task p]\nschedule = 0 4 * * *\naction = prune-store\ndir = /old\nolder-than = 7d',
      want: { dir: '/old', olderThanMs: 7 * 86_400_000 },
    },
    {
      name: 'clean-tmp default 36 h over every spool, 6-field schedule',
      text: '[task c]\nschedule = */10 * * * * *\naction = clean-tmp',
      want: { action: 'clean-tmp', schedule: '*/10 * * * * *', olderThanMs: 36 * 3_600_000, spools: SPOOLS },
    },
    {
      name: 'requeue defaults: all spools, undeliverable',
      text: '[task r]\nschedule = 0 * * * *\naction = requeue',
      want: { action: 'requeue', spools: SPOOLS, from: ['undeliverable'] },
    },
    {
      name: 'requeue one subtree from both',
      text: '[task r]\nschedule = 0 * * * *\naction = requeue\nsubtree = dump\nfrom = both',
      want: { spools: [{ name: 'dump', root: '/s/dump' }], from: ['undeliverable', 'post'] },
    },
    {
      name: 'requeue from post',
      text: '[task r]\nschedule = 0 * * * *\naction = requeue\nfrom = post\nsubtree = all',
      want: { spools: SPOOLS, from: ['post'] },
    },
    {
      name: '[DEFAULT] keys of this action are inherited, others ignored',
      text: '[DEFAULT]\nolder-than = 2d\nlog-level = debug\n[task p]\nschedule = 0 4 * * *\naction = prune-store',
      want: { olderThanMs: 2 * 86_400_000 },
    },
    {
      name: 'a bare number is seconds',
      text: '[task p]\nschedule = 0 4 * * *\naction = prune-store\nolder-than = 3600\ntimeout = 90',
      want: { olderThanMs: 3_600_000, overdueMs: 90_000 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const t = only(c.text, c.ctx) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(t[k], v, k);
    });
  }

  it('several tasks in file order; other sections are not tasks', () => {
    const tasks = parse(`[importer]
jpps = x:1
[task b]
schedule = 0 1 * * *
action = clean-tmp
[tasks-note]
anything = goes
[task a]
schedule = 0 2 * * *
action = requeue`);
    assert.deepEqual(tasks.map((t) => [t.name, t.action]), [['b', 'clean-tmp'], ['a', 'requeue']]);
  });

  it('no task sections: no tasks', () => {
    assert.deepEqual(parse('[importer]\njpps = x:1\n'), []);
  });
});

describe('parseTasks: refusals name file, section, key, value and rule', () => {
  const H = (action: string, extra = '', name = 't'): string => `[task ${name}]\nschedule = 0 3 * * *\naction = ${action}\n${extra}`;
  const ED = (extra: string): string => H('export-dumps', `dumps = /d\nstore = /st\n${extra}`);
  const cases: { name: string; text: string; key: string; value?: string; rule: RegExp; ctx?: TaskContext; task?: string }[] = [
    { name: 'schedule missing', text: '[task t]\naction = requeue', key: 'schedule', rule: /is required.*got nothing/ },
    { name: 'schedule empty', text: '[task t]\nschedule =\naction = requeue', key: 'schedule', rule: /is required/ },
    { name: 'schedule minute 61', text: '[task t]\nschedule = 61 * * * *\naction = requeue', key: 'schedule', value: '61 * * * *', rule: /cron expression.*minute/ },
    { name: 'schedule 4 fields', text: '[task t]\nschedule = * * * *\naction = requeue', key: 'schedule', value: '* * * *', rule: /5 or 6 fields/ },
    { name: 'schedule 7 fields', text: '[task t]\nschedule = 0 0 3 * * * *\naction = requeue', key: 'schedule', value: '0 0 3 * * * *', rule: /5 or 6 fields/ },
    { name: 'schedule words', text: '[task t]\nschedule = every night\naction = requeue', key: 'schedule', value: 'every night', rule: /cron/ },
    { name: 'action missing', text: '[task t]\nschedule = 0 3 * * *', key: 'action', rule: /is required.*export-dumps, prune-store, clean-tmp, requeue/ },
    { name: 'action unknown', text: H('export'), key: 'action', value: 'export', rule: /must be one of export-dumps, prune-store, clean-tmp, requeue/ },
    { name: 'typo in a key', text: H('prune-store', 'older_than = 3d'), key: 'older_than', value: '3d', rule: /unknown key for action prune-store.*older-than/ },
    { name: 'key of another action', text: H('clean-tmp', 'dir = /x'), key: 'dir', value: '/x', rule: /unknown key for action clean-tmp/ },
    { name: 'timeout not a duration', text: H('requeue', 'timeout = soon'), key: 'timeout', value: 'soon', rule: /positive duration/ },
    { name: 'timeout beyond 24 days', text: H('requeue', 'timeout = 25d'), key: 'timeout', value: '25d', rule: /at most 24d/ },
    { name: 'timeout zero', text: H('requeue', 'timeout = 0'), key: 'timeout', value: '0', rule: /positive duration/ },
    { name: 'older-than negative', text: H('prune-store', 'older-than = -1d'), key: 'older-than', value: '-1d', rule: /positive duration/ },
    { name: 'older-than words', text: H('clean-tmp', 'older-than = 30 days'), key: 'older-than', value: '30 days', rule: /positive duration/ },
    { name: 'dumps missing', text: H('export-dumps', 'store = /st'), key: 'dumps', rule: /is required/ },
    { name: 'store missing', text: H('export-dumps', 'dumps = /d'), key: 'store', rule: /is required/ },
    { name: 'store is the dumps dir', text: H('export-dumps', 'dumps = /d\nstore = /d/'), key: 'store', value: '/d/', rule: /must not be the dumps directory/ },
    {
      name: 'store outside the allowed dirs', text: ED(''), key: 'store', value: '/st', rule: /allowed directories \(\/var\/lib\/jp\)/,
      ctx: { ...CTX, allowDirs: ['/var/lib/jp'] },
    },
    { name: 'no allowed dirs at all', text: ED(''), key: 'store', value: '/st', rule: /none configured/, ctx: { ...CTX, allowDirs: [] } },
    { name: 'done is the dumps dir', text: ED('done = /d'), key: 'done', value: '/d', rule: /must not be the dumps directory/ },
    { name: 'failed is the dumps dir', text: ED('failed = /d'), key: 'failed', value: '/d', rule: /must not be the dumps directory/ },
    { name: 'failed is done', text: ED('done = /x\nfailed = /x'), key: 'failed', value: '/x', rule: /must differ from done/ },
    { name: 'dumps empty', text: H('export-dumps', 'dumps =\nstore = /st'), key: 'dumps', value: '', rule: /directory path/ },
    { name: 'lbmaildir empty', text: ED('lbmaildir ='), key: 'lbmaildir', value: '', rule: /directory path/ },
    { name: 'jpps without port', text: ED('jpps = jp.example.org'), key: 'jpps', value: 'jp.example.org', rule: /HOST:PORT/ },
    { name: 'jpps port too big', text: ED('jpps = h:99999'), key: 'jpps', value: 'h:99999', rule: /HOST:PORT/ },
    { name: 'jpps port zero', text: ED('jpps = h:0'), key: 'jpps', value: 'h:0', rule: /HOST:PORT/ },
    { name: 'jpps is a URL', text: ED('jpps = https://h:8901/'), key: 'jpps', value: 'https://h:8901/', rule: /HOST:PORT/ },
    { name: 'skip-bad-lines not boolean', text: ED('skip-bad-lines = maybe'), key: 'skip-bad-lines', value: 'maybe', rule: /true or false/ },
    {
      name: 'prune-store without dir and no importer store', text: H('prune-store'), key: 'dir', rule: /is required/,
      ctx: { ...CTX, store: undefined },
    },
    { name: 'prune-store of /', text: H('prune-store', 'dir = /'), key: 'dir', value: '/', rule: /root directory/ },
    { name: 'requeue unknown subtree', text: H('requeue', 'subtree = jobs'), key: 'subtree', value: 'jobs', rule: /one of reg, dump, sandbox, all/ },
    {
      name: 'requeue subtree not served', text: H('requeue', 'subtree = sandbox'), key: 'subtree', value: 'sandbox', rule: /one of reg, all/,
      ctx: { ...CTX, spools: [{ name: 'reg', root: '/s/reg' }] },
    },
    { name: 'requeue from new', text: H('requeue', 'from = new'), key: 'from', value: 'new', rule: /undeliverable, post, both/ },
    { name: 'section name kept in the message', text: H('requeue', 'from = x', 'my  task'), key: 'from', value: 'x', rule: /both/, task: 'my  task' },
    {
      name: 'second task still checked', text: `${H('requeue', '', 'a')}\n${H('clean-tmp', 'typo = 1', 'b')}`,
      key: 'typo', value: '1', rule: /unknown key/, task: 'b',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.throws(() => parse(c.text, c.ctx), (e: unknown) => {
        assert.ok(isJpError(e, 'JP_CONFIG'), `JP_CONFIG, got ${String(e)}`);
        const prefix = `${FILE} [task ${c.task ?? 't'}] ${c.key}: `;
        assert.ok(e.message.startsWith(prefix), `${JSON.stringify(e.message)} starts with ${JSON.stringify(prefix)}`);
        assert.match(e.message, c.rule);
        if (c.value !== undefined) assert.ok(e.message.endsWith(`got ${JSON.stringify(c.value)}`), e.message);
        return true;
      });
    });
  }

  const sections: { name: string; text: string; want: RegExp }[] = [
    { name: 'task section without a name', text: '[task]\nschedule = 0 3 * * *\naction = requeue', want: /^\/etc\/jp\/importer\.ini \[task\]: a task section needs a name/ },
    { name: 'two sections with one task name', text: '[task a]\nschedule = 0 3 * * *\naction = requeue\n[task  a]\nschedule = 0 3 * * *\naction = requeue', want: /\[task {2}a\]: a second task named "a"/ },
  ];
  for (const c of sections) {
    it(c.name, () => {
      assert.throws(() => parse(c.text), (e: unknown) => isJpError(e, 'JP_CONFIG') && c.want.test(e.message));
    });
  }
});
