/**
 * lb-dump-exporter against other exporters and against a dump that is not
 * finished: locks per maildir and per dump (a second run refused with exit
 * 75, a killed run leaving nothing that blocks), a last line without its
 * newline, a dump that changes while it is read. Real processes through the
 * CLI; an exporter is held in the middle of its run by a test-only preload
 * (pause-hook.ts) at its first read of the dump, so every overlap is
 * deterministic.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chown, mkdir, open, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  expectedContent, interleavedLines, joinLines, makeJobs, readMessages, runCli, storeFiles, tempDir, type GenJob, type RunResult,
} from './helpers.js';

const CLI = new URL('../../src/cli/lb-dump-exporter.js', import.meta.url);
const HOOK = new URL('./pause-hook.js', import.meta.url);
const LOCK_NAME = '.lb-dump-exporter.lock';
const EXIT_LOCKED = 75;

type T = Parameters<typeof tempDir>[0];

interface Paused {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly done: Promise<RunResult>;
  go(): Promise<void>;
}

/** Start the CLI held at its first read of the dump; resolves once it is there. */
async function startPaused(t: T, root: string, args: string[]): Promise<Paused> {
  const dir = await import('node:fs/promises').then((f) => f.mkdtemp(join(root, 'pause-')));
  const child = spawn(process.execPath, ['--import', HOOK.href, fileURLToPath(CLI), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, JP_TEST_PAUSE_DIR: dir },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.after(async () => {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let exited = false;
  void done.then(() => (exited = true));
  for (let i = 0; i < 2000 && !existsSync(join(dir, 'ready')); i++) {
    if (exited) break;
    await sleep(10);
  }
  if (!existsSync(join(dir, 'ready'))) {
    child.kill('SIGKILL');
    const r = await done;
    assert.fail(`the exporter never reached its first read (exit ${String(r.code)}): ${r.stderr}`);
  }
  return { child, pid: child.pid as number, done, go: () => writeFile(join(dir, 'go'), '') };
}

async function setup(t: T, jobs: readonly GenJob[], tail: Buffer = Buffer.alloc(0)) {
  const root = await tempDir(t);
  const store = join(root, 'store');
  await mkdir(store);
  const dump = join(root, 'dump.log');
  await writeFile(dump, Buffer.concat([joinLines(interleavedLines(jobs, 5)), tail]));
  return { root, store, maildir: join(root, 'md'), dump };
}

/** Each job announced exactly once, its file holding exactly its lines. */
async function assertOnce(jobs: readonly GenJob[], store: string, maildir: string): Promise<void> {
  const msgs = await readMessages(maildir);
  const count = new Map<string, number>();
  for (const m of msgs) count.set(m.jobid, (count.get(m.jobid) ?? 0) + 1);
  for (const job of jobs) assert.equal(count.get(job.jobid), 1, `${job.jobid} announced once`);
  assert.equal(msgs.length, jobs.length, 'no other message');
  const files = await storeFiles(store);
  for (const job of jobs) {
    const f = files.get(job.unique);
    assert.ok(f !== undefined, job.unique);
    assert.ok((await readFile(f)).equals(expectedContent(job)), `content of ${job.unique}`);
  }
}

describe('lb-dump-exporter: one exporter per maildir and per dump', () => {
  it('a second exporter started while one runs is refused (exit 75) naming the holder; each job announced once', async (t) => {
    const jobs = makeJobs(30, (j) => 1 + (j % 4));
    const { root, store, maildir, dump } = await setup(t, jobs);
    const args = ['-d', dump, '-s', store, '-m', maildir, '--max-open', '8'];
    const a = await startPaused(t, root, args);

    // the same dump, the same maildir: the dump's lock is met first
    const b = await runCli(CLI, args);
    assert.equal(b.code, EXIT_LOCKED, b.stderr);
    assert.match(b.stderr, new RegExp(`dump file ${dump} is being exported by another process: a lock on it is held by pid ${a.pid}\\b`));
    assert.match(b.stderr, /not started/);

    // another dump into the same maildir: refused by the maildir's lock, which names what the holder exports
    const other = join(root, 'other.log');
    await writeFile(other, joinLines(interleavedLines(makeJobs(3, () => 2, 'Other'), 1)));
    const c = await runCli(CLI, ['-d', other, '-s', store, '-m', maildir]);
    assert.equal(c.code, EXIT_LOCKED, c.stderr);
    assert.match(c.stderr, new RegExp(`maildir ${maildir} is in use by another dump exporter: lock file ${join(maildir, LOCK_NAME)} is held by pid ${a.pid}\\b`));
    assert.ok(c.stderr.includes(`exporting dump file ${dump} since `), c.stderr);
    // and so is standard input
    const d = await runCli(CLI, ['-s', store, '-m', maildir], { stdin: await readFile(other) });
    assert.equal(d.code, EXIT_LOCKED, d.stderr);
    assert.match(d.stderr, /is in use by another dump exporter/);

    await a.go();
    const ra = await a.done;
    assert.equal(ra.code, 0, ra.stderr);
    await assertOnce(jobs, store, maildir);
    const lock = await stat(join(maildir, LOCK_NAME));
    assert.equal(lock.mode & 0o777, 0o600, 'lock file 0600');
  });

  it('the same dump into another maildir is refused by the lock on the dump, naming the holder', async (t) => {
    const jobs = makeJobs(10, () => 2);
    const { root, store, maildir, dump } = await setup(t, jobs);
    const a = await startPaused(t, root, ['-d', dump, '-s', store, '-m', maildir]);
    const store2 = join(root, 'store2');
    await mkdir(store2);
    const b = await runCli(CLI, ['-d', dump, '-s', store2, '-m', join(root, 'md2')]);
    assert.equal(b.code, EXIT_LOCKED, b.stderr);
    assert.match(b.stderr, new RegExp(`dump file ${dump} is being exported by another process: a lock on it is held by pid ${a.pid}\\b`));
    assert.deepEqual(await readMessages(join(root, 'md2')), []);
    assert.equal((await storeFiles(store2)).size, 0, 'the refused run wrote no job file');
    await a.go();
    assert.equal((await a.done).code, 0);
    await assertOnce(jobs, store, maildir);
  });

  it('a SIGKILLed exporter leaves no lock that blocks the next run', async (t) => {
    const jobs = makeJobs(12, (j) => 1 + (j % 3));
    const { root, store, maildir, dump } = await setup(t, jobs);
    const args = ['-d', dump, '-s', store, '-m', maildir];
    const a = await startPaused(t, root, args);
    const held = await runCli(CLI, args);
    assert.equal(held.code, EXIT_LOCKED, `held while the first runs: ${held.stderr}`);
    a.child.kill('SIGKILL');
    const ra = await a.done;
    assert.equal(ra.signal, 'SIGKILL');
    // at once: no staleness delay, nothing to clean up first
    const next = await runCli(CLI, args);
    assert.equal(next.code, 0, next.stderr);
    await assertOnce(jobs, store, maildir);
  });

  it('a lock file that is not the exporter\'s own is refused with a clear message', async (t) => {
    const jobs = makeJobs(3, () => 1);
    const { store, maildir, dump } = await setup(t, jobs);
    await mkdir(maildir, { mode: 0o700 });
    await symlink('/etc/passwd', join(maildir, LOCK_NAME));
    const r = await runCli(CLI, ['-d', dump, '-s', store, '-m', maildir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`lock file ${join(maildir, LOCK_NAME)} .*symbolic link`));
    assert.deepEqual(await readMessages(maildir), []);
    if (process.getuid?.() !== 0) return t.diagnostic('not root: the foreign-owner case is skipped');
    await import('node:fs/promises').then((f) => f.unlink(join(maildir, LOCK_NAME)));
    await writeFile(join(maildir, LOCK_NAME), '', { mode: 0o600 });
    await chown(join(maildir, LOCK_NAME), 65534, 65534);
    const r2 = await runCli(CLI, ['-d', dump, '-s', store, '-m', maildir]);
    assert.equal(r2.code, 1, r2.stderr);
    assert.match(r2.stderr, new RegExp(`lock file ${join(maildir, LOCK_NAME)} is owned by uid 65534`));
    assert.deepEqual(await readMessages(maildir), []);
  });
});

describe('lb-dump-exporter: an unfinished dump', () => {
  const cutLine = (jobs: readonly GenJob[]): Buffer => {
    const line = (makeJobs(1, () => 1, 'Cut')[0] as GenJob).lines[0] as Buffer;
    assert.ok(jobs.length > 0);
    return line.subarray(0, 60);
  };

  it('a last line without its newline is refused (dump, line, byte offset); --allow-partial stops before it', async (t) => {
    const jobs = makeJobs(8, () => 2);
    const complete = joinLines(interleavedLines(jobs, 5));
    const { store, maildir, dump } = await setup(t, jobs, cutLine(jobs));
    const r = await runCli(CLI, ['-d', dump, '-s', store, '-m', maildir]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(`dump file ${dump}`), r.stderr);
    assert.match(r.stderr, new RegExp(`line 17 \\(from byte offset ${complete.length}, 60 bytes\\) has no newline`));
    assert.match(r.stderr, /--allow-partial/);
    assert.match(r.stderr, /no job was announced/);
    assert.deepEqual(await readMessages(maildir), []);

    const store2 = `${store}2`;
    await mkdir(store2);
    const ok = await runCli(CLI, ['-d', dump, '-s', store2, '-m', maildir, '--allow-partial']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`line 17 \\(from byte offset ${complete.length}, 60 bytes\\) has no newline: not exported \\(--allow-partial\\)`));
    await assertOnce(jobs, store2, maildir);
  });

  it('standard input cut in the middle of a line is refused too', async (t) => {
    const jobs = makeJobs(4, () => 2);
    const { store, maildir } = await setup(t, jobs);
    const r = await runCli(CLI, ['-s', store, '-m', maildir], { stdin: Buffer.concat([joinLines(interleavedLines(jobs, 2)), cutLine(jobs)]) });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /standard input: line 9 \(from byte offset \d+, 60 bytes\) has no newline/);
    assert.deepEqual(await readMessages(maildir), []);
  });

  it('a dump appended to while it is read: exit 1 naming the change, nothing announced', async (t) => {
    const jobs = makeJobs(20, () => 3);
    const { root, store, maildir, dump } = await setup(t, jobs);
    const before = (await stat(dump)).size;
    const a = await startPaused(t, root, ['-d', dump, '-s', store, '-m', maildir]);
    await appendFile(dump, joinLines(makeJobs(2, () => 1, 'Late')[0]?.lines ?? []));
    await a.go();
    const r = await a.done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`dump file ${dump} changed while being read: it had ${before} bytes at the start`));
    assert.match(r.stderr, /no job was announced/);
    assert.deepEqual(await readMessages(maildir), []);
  });

  it('a dump rewritten in place (same size) while it is read: exit 1, nothing announced', async (t) => {
    const jobs = makeJobs(20, () => 3);
    const { root, store, maildir, dump } = await setup(t, jobs);
    const a = await startPaused(t, root, ['-d', dump, '-s', store, '-m', maildir]);
    await sleep(20); // a later mtime even on coarse clocks
    const fh = await open(dump, 'r+');
    await fh.write(Buffer.from('DG.ARRIVED=2'), 0, 12, 0);
    await fh.close();
    await a.go();
    const r = await a.done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`dump file ${dump} changed while being read: modified`));
    assert.deepEqual(await readMessages(maildir), []);
  });
});
