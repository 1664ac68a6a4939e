/**
 * R8: the real lb-dump-exporter CLI on a large generated interleaved dump
 * hits a bad line in the middle, a write error (the file size limit,
 * EFBIG) or a store directory that goes away mid-run: it exits non-zero
 * with a message naming the line or the file, and stores no message
 * announcing an incomplete job file. A control run of the same dump with
 * --skip-bad-lines announces every job, each file complete.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { parseUploadMessage } from '../../src/messages/keyvalue.js';
import { tempDir } from '../helpers/tmp.js';
import { mapLimit, pollUntil, sized } from '../helpers/chaos.js';

const CLI = fileURLToPath(new URL('../../src/cli/lb-dump-exporter.js', import.meta.url));
const JOBS = sized(10_000, 100_000);
const LB = 'https://lb.example.org:9000';

const eventsOf = (j: number): number => 1 + (j % 9);
const unique = (j: number): string => `r8_${j}_${(j * 7919).toString(36)}`;

function line(j: number, k: number, pad = ''): string {
  return `DG.ARRIVED=20080928052442.${String(k).padStart(6, '0')} DATE=20080928052442.410059 HOST="devel19.example.org" PROG=edg-wms `
    + `LVL=SYSTEM DG.PRIORITY=0 DG.JOBID="${LB}/${unique(j)}" DG.EVNT="Ev${k}" DG.SEQCODE="UI=000000:NS=${String(k).padStart(10, '0')}"`
    + `${pad.length > 0 ? ` DG.PAD="${pad}"` : ''}`;
}

interface Dump {
  path: string;
  lines: number;
  /** 1-based number of the bad line, when there is one. */
  badLine?: number;
  /** Events of job 0 (the big one when `big` is set). */
  bigEvents: number;
}

/**
 * Write the dump round by round (event k of every job that has one), so
 * every job's lines are spread over the whole file. `bad`: a broken line
 * in the exact middle. `big`: job 0 also gets a 1 KiB event every 8 lines.
 */
async function writeDump(path: string, opts: { bad?: boolean; big?: boolean }): Promise<Dump> {
  let total = 0;
  for (let j = 0; j < JOBS; j++) total += eventsOf(j);
  const middle = Math.floor(total / 2);
  const out = createWriteStream(path);
  let n = 0;
  let badLine: number | undefined;
  let bigEvents = eventsOf(0);
  let chunk = '';
  const emit = async (s: string): Promise<void> => {
    chunk += `${s}\n`;
    n++;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  };
  let produced = 0;
  for (let k = 0; k < 9; k++) {
    for (let j = 0; j < JOBS; j++) {
      if (eventsOf(j) <= k) continue;
      await emit(line(j, k));
      produced++;
      if (opts.bad === true && produced === middle) {
        await emit(`DG.JOBID="${LB}/${unique(1)}" BROKEN`);
        badLine = n;
      }
      if (opts.big === true && produced % 8 === 0) {
        await emit(line(0, 100 + bigEvents, 'x'.repeat(1024)));
        bigEvents++;
      }
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return { path, lines: n, bigEvents, ...(badLine !== undefined ? { badLine } : {}) };
}

interface Run {
  code: number | null;
  stderr: string;
}

/** Run the CLI (optionally under a file size limit in KiB); `during` runs while it works. */
async function runExporter(args: string[], opts: { fsizeKiB?: number; during?: () => Promise<void> } = {}): Promise<Run> {
  const cmd = opts.fsizeKiB !== undefined
    ? spawn('bash', ['-c', `ulimit -f ${opts.fsizeKiB} && exec "$@"`, 'bash', process.execPath, CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  cmd.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((r) => cmd.on('close', (code) => r(code)));
  const timer = setTimeout(() => cmd.kill('SIGKILL'), sized(240_000, 1_200_000));
  try {
    await opts.during?.();
    return { code: await closed, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Messages in the maildir's new/ (none when it does not exist). */
async function messages(maildir: string): Promise<{ jobid: string; file: string }[]> {
  let names: string[] = [];
  try {
    names = (await readdir(join(maildir, 'new'))).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
  return mapLimit(names, 32, async (n) => parseUploadMessage(await readFile(join(maildir, 'new', n))));
}

/** The job file holds exactly the job's events, each a whole line naming the job. */
async function assertComplete(file: string, j: number, events: number): Promise<void> {
  const text = await readFile(file, 'latin1');
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', `${file} ends with a newline`);
  assert.equal(lines.length, events, `${file}: ${events} events`);
  for (const l of lines) assert.ok(l.includes(`DG.JOBID="${LB}/${unique(j)}"`), `${file}: only its own job's lines`);
}

async function setup(t: Parameters<typeof tempDir>[0]): Promise<{ root: string; store: string; maildir: string }> {
  const root = await tempDir(t);
  const store = join(root, 'store');
  await mkdir(store);
  return { root, store, maildir: join(root, 'md') };
}

test(`R8: a ${JOBS}-job dump with a bad line in the middle: exit 1 naming the line, nothing announced; with --skip-bad-lines every job announced complete`,
  { timeout: sized(240_000, 1_200_000) }, async (t) => {
    const { root, store, maildir } = await setup(t);
    const dump = await writeDump(join(root, 'dump.log'), { bad: true });
    t.diagnostic(`${dump.lines} lines, bad line ${dump.badLine}`);
    // a small buffer: job files are being written when the bad line comes
    const r = await runExporter(['-d', dump.path, '-s', store, '-m', maildir, '--max-open', '64', '--buffer-kib', '256']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^lb-dump-exporter: line ${dump.badLine}: field "BROKEN" has no '='`, 'm'));
    const left = (await readdir(store)).length;
    assert.ok(left > 0 && left <= JOBS, `the job files written so far stay (${left})`);
    assert.match(r.stderr, new RegExp(`no job was announced; the ${left} job files written so far stay in ${store} \\(incomplete, not announced\\)`));
    assert.deepEqual(await messages(maildir), [], 'no message');

    // control: the same dump, skipping the bad line, into a fresh store
    const store2 = join(root, 'store2');
    await mkdir(store2);
    const ok = await runExporter(['-d', dump.path, '-s', store2, '-m', maildir, '--max-open', '64', '--skip-bad-lines']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`line ${dump.badLine}: .*\\(skipped\\)`));
    assert.match(ok.stderr, new RegExp(`${JOBS} jobs, ${dump.lines - 1} events, \\d+ bytes, 1 bad lines`));
    const msgs = await messages(maildir);
    assert.equal(msgs.length, JOBS, 'one message per job');
    const byJob = new Map(msgs.map((m) => [m.jobid, m.file]));
    const sample = Array.from({ length: 200 }, (_, i) => Math.floor((i * JOBS) / 200));
    await mapLimit(sample, 16, async (j) => {
      const file = byJob.get(`${LB}/${unique(j)}`);
      assert.ok(file !== undefined && file.startsWith(`${store2}/`), `job ${j} announced in the store`);
      await assertComplete(file, j, eventsOf(j));
    });
  });

test(`R8: a write error halfway (file size limit, EFBIG): exit 1 naming the job file, nothing announced`,
  { timeout: sized(240_000, 1_200_000) }, async (t) => {
    const { root, store, maildir } = await setup(t);
    const dump = await writeDump(join(root, 'dump.log'), { big: true });
    const bigBytes = dump.bigEvents * 1300;
    const limitKiB = Math.floor(bigBytes / 1024 / 2); // job 0's file reaches it about halfway
    t.diagnostic(`${dump.lines} lines; job 0 has ${dump.bigEvents} events (~${Math.round(bigBytes / 1024)} KiB), limit ${limitKiB} KiB`);
    const r = await runExporter(['-d', dump.path, '-s', store, '-m', maildir, '--max-open', '64'], { fsizeKiB: limitKiB });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot write to job file ${store}/${unique(0)}\\.\\S+: .*EFBIG`));
    assert.match(r.stderr, /no job was announced/);
    assert.deepEqual(await messages(maildir), [], 'no message');
  });

test(`R8: the store directory replaced by a file mid-run: exit 1 naming a job file, no message for an incomplete file`,
  { timeout: sized(240_000, 1_200_000) }, async (t) => {
    const { root, store, maildir } = await setup(t);
    const dump = await writeDump(join(root, 'dump.log'), {});
    let filesAtSwap = 0;
    const r = await runExporter(['-d', dump.path, '-s', store, '-m', maildir, '--max-open', '16'], {
      during: async () => {
        await pollUntil(async () => (filesAtSwap = (await readdir(store)).length) >= JOBS / 10, 60_000, 'job files being written', 20);
        await rename(store, `${store}.moved`);
        await writeFile(store, 'not a directory any more');
      },
    });
    t.diagnostic(`swapped at ${filesAtSwap} job files; ${r.stderr.trim().split('\n').join(' | ')}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot (create|reopen|write to|fsync) job file ${store}/`));
    const msgs = await messages(maildir);
    // nothing announced, or (had announcing begun) only complete files
    for (const m of msgs) {
      const j = Number(/r8_(\d+)_/.exec(m.file)?.[1]);
      await assertComplete(m.file.replace(`${store}/`, `${store}.moved/`), j, eventsOf(j));
    }
    assert.deepEqual(msgs, [], 'no message: the store went away before the files were complete');
    assert.match(r.stderr, /no job was announced/);
  });
