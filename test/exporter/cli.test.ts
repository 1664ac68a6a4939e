import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  expectedContent, fixturePath, groupByJobid, interleavedLines, joinLines, listDir, makeJobs, readMessages,
  runCli, sortedLines, storeFiles, tempDir, type GenJob,
} from './helpers.js';

const CLI = new URL('../../src/cli/lb-dump-exporter.js', import.meta.url);

async function dirs(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t);
  const store = join(root, 'store');
  await mkdir(store);
  return { root, store, maildir: join(root, 'md') };
}

async function assertJobs(jobs: readonly GenJob[], store: string, maildir: string, jpps?: string): Promise<void> {
  const files = await storeFiles(store);
  assert.equal(files.size, jobs.length);
  for (const job of jobs) {
    const f = files.get(job.unique);
    assert.ok(f !== undefined, job.unique);
    assert.ok((await readFile(f)).equals(expectedContent(job)), `content of ${job.unique}`);
  }
  const msgs = await readMessages(maildir);
  assert.equal(msgs.length, jobs.length);
  for (const m of msgs) {
    assert.equal(m.jpps, jpps);
    assert.ok([...files.values()].includes(m.file), m.file);
  }
}

describe('lb-dump-exporter CLI', () => {
  it('the 101-job fixture with long options: 101 files and 101 messages with jpps', async (t) => {
    const path = fixturePath();
    if (path === undefined) {
      t.skip('fixture ../shared/fixtures/lb-events/perf_collection_avg_events.log not found');
      return;
    }
    const { store, maildir } = await dirs(t);
    const r = await runCli(CLI, ['--dump', path, '--store', store, '--lbmaildir', maildir, '--jpps', 'jp.example.org:8901', '--mixed', '--max-open', '8']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /101 jobs, 1782 events, \d+ bytes, 0 bad lines, [\d.]+ s/);
    const jobs = [...groupByJobid(await readFile(path))].map(([jobid, lines]) => ({ jobid, unique: jobid.split('/').pop() as string, lines }));
    await assertJobs(jobs, store, maildir, 'jp.example.org:8901');
  });

  it('standard input with short options; -x accepted; --quiet prints nothing', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(15, (j) => 1 + (j % 4));
    const r = await runCli(CLI, ['-s', store, '-m', maildir, '-x', '--max-open', '8', '--quiet'], { stdin: joinLines(interleavedLines(jobs, 1)) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, '');
    await assertJobs(jobs, store, maildir);
  });

  it('a bad line halfway: exit 1, line number and reason, nothing announced', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(10, () => 3);
    const lines = interleavedLines(jobs, 2);
    lines.splice(17, 0, Buffer.from('DG.JOBID="https://lb.example.org:9000/x" BROKEN'));
    const r = await runCli(CLI, ['-s', store, '-m', maildir, '--buffer-kib', '4'], { stdin: joinLines(lines) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^lb-dump-exporter: line 18: field "BROKEN" has no '='/m);
    assert.match(r.stderr, /no job was announced/);
    assert.deepEqual(await readMessages(maildir), []);
  });

  it('--skip-bad-lines: reports each bad line and succeeds', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(5, () => 2);
    const lines = sortedLines(jobs);
    lines.splice(2, 0, Buffer.from('garbage'));
    const r = await runCli(CLI, ['-s', store, '-m', maildir, '--skip-bad-lines'], { stdin: joinLines(lines) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /line 3: field "garbage" has no '=' \(column 1\) \(skipped\)/);
    assert.match(r.stderr, /5 jobs, 10 events, \d+ bytes, 1 bad lines/);
    await assertJobs(jobs, store, maildir);
  });

  it('a missing store directory is a clear error', async (t) => {
    const { root, maildir } = await dirs(t);
    const r = await runCli(CLI, ['-s', join(root, 'missing'), '-m', maildir], { stdin: Buffer.from('') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`store directory ${join(root, 'missing')} does not exist`));
  });

  it('an unreadable dump file is a clear error', async (t) => {
    const { root, store, maildir } = await dirs(t);
    const r = await runCli(CLI, ['-d', join(root, 'nodump'), '-s', store, '-m', maildir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot open dump file .*nodump: ENOENT/);
  });

  const usage: [string, string[], RegExp][] = [
    ['unknown option', ['--bogus'], /Unknown argument: bogus/],
    ['option without its value', ['-d'], /Not enough arguments following: d/],
    ['stray argument', ['file.log'], /Unknown argument: file\.log|unexpected argument/],
    ['bad --max-open', ['--max-open', '0'], /--max-open must be a positive integer/],
    ['bad --jpps', ['--jpps', 'nohostport'], /--jpps must be HOST:PORT/],
  ];
  for (const [name, args, re] of usage) {
    it(`usage error: ${name} exits 1 with the usage text`, async () => {
      const r = await runCli(CLI, args);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Usage: lb-dump-exporter/);
      assert.match(r.stderr, re);
    });
  }

  it('--help prints the usage and exits 0', async () => {
    const r = await runCli(CLI, ['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: lb-dump-exporter/);
    assert.match(r.stdout, /--skip-bad-lines/);
  });

  it('the store directory replaced by a file mid-run: exit 1, no message for any job', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(40, () => 4);
    const lines = interleavedLines(jobs, 4);
    const half = Math.floor(lines.length / 2);
    const child = spawn(process.execPath, [fileURLToPath(CLI), '-s', store, '-m', maildir, '--buffer-kib', '4', '--max-open', '2'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    t.after(() => clearTimeout(timer));

    // First half: enough to fill the 4 KiB buffer several times, so job files get created.
    const created = new Promise<void>((res) => {
      const w = watch(store, () => {
        w.close();
        res();
      });
    });
    child.stdin.write(joinLines(lines.slice(0, half)));
    await created;
    assert.ok((await listDir(store)).length > 0);

    // Atomic while the exporter keeps creating files: move the directory away.
    await rename(store, `${store}.moved`);
    await writeFile(store, 'not a directory any more');
    child.stdin.end(joinLines(lines.slice(half)));

    const code = await exited;
    assert.equal(code, 1, stderr);
    assert.match(stderr, new RegExp(`cannot (create|reopen|fsync) job file ${store}/`));
    assert.match(stderr, /no job was announced; the \d+ job files written so far stay in .* \(incomplete, not announced\)/);
    assert.deepEqual(await readMessages(maildir), []);
  });
});
