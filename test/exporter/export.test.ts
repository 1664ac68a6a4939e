import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { ExportFailure, runExport, type ExportOptions, type ExportSummary } from '../../src/exporter/index.js';
import {
  chunks, expectedContent, fixturePath, groupByJobid, interleavedLines, joinLines, listDir, makeJobs,
  readMessages, sortedLines, storeFiles, tempDir, type GenJob,
} from './helpers.js';

async function dirs(t: Parameters<typeof tempDir>[0]): Promise<{ store: string; maildir: string }> {
  const root = await tempDir(t);
  const store = join(root, 'store');
  await import('node:fs/promises').then((f) => f.mkdir(store));
  return { store, maildir: join(root, 'md') };
}

/** Every job has exactly one file with exactly its lines, and one message naming it. */
async function assertSplit(jobs: readonly GenJob[], store: string, maildir: string, jpps?: string): Promise<void> {
  const files = await storeFiles(store);
  assert.equal(files.size, jobs.length, 'one file per job');
  for (const job of jobs) {
    const path = files.get(job.unique);
    assert.ok(path !== undefined, `file for ${job.unique}`);
    assert.ok((await readFile(path)).equals(expectedContent(job)), `content of ${job.unique}`);
    const st = await stat(path);
    assert.equal(st.mode & 0o777, 0o640 & ~process.umask());
  }
  const msgs = await readMessages(maildir);
  assert.equal(msgs.length, jobs.length, 'one message per job');
  const byJob = new Map(msgs.map((m) => [m.jobid, m]));
  for (const job of jobs) {
    const m = byJob.get(job.jobid);
    assert.ok(m !== undefined, `message for ${job.jobid}`);
    assert.equal(m.file, files.get(job.unique));
    assert.equal(m.jpps, jpps);
    assert.equal(m.proxy, undefined);
  }
}

async function run(data: Buffer, o: ExportOptions, sizes?: number[]): Promise<ExportSummary> {
  return runExport(chunks(data, sizes), o);
}

describe('runExport: splitting', () => {
  it('sorted dump, --max-open 8, tiny buffer', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(30, (j) => 1 + (j % 6));
    const s = await run(joinLines(sortedLines(jobs)), { store, maildir, maxOpen: 8, bufferBytes: 4096 }, [1000]);
    assert.equal(s.jobs, 30);
    assert.equal(s.events, jobs.reduce((a, j) => a + j.lines.length, 0));
    assert.equal(s.announced, 30);
    assert.equal(s.badLineCount, 0);
    await assertSplit(jobs, store, maildir);
  });

  it('interleaved dump, --max-open 8, odd chunk sizes, jpps in every message', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(60, (j) => 1 + ((j * 5) % 11));
    const data = joinLines(interleavedLines(jobs, 7));
    await run(data, { store, maildir, maxOpen: 8, bufferBytes: 8192, jpps: 'jp.example.org:8901' }, [7, 1, 333, 4096]);
    await assertSplit(jobs, store, maildir, 'jp.example.org:8901');
  });

  it('a last line without its newline: refused, nothing announced, the offset named', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(20, () => 4);
    const lines = interleavedLines(jobs, 3);
    const data = joinLines(lines);
    const lastStart = data.length - 1 - (lines.at(-1) as Buffer).length;
    const err = await run(data.subarray(0, data.length - 1), { store, maildir, maxOpen: 8 }, [333]).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ExportFailure, String(err));
    assert.equal(err.info.refused, 'incomplete');
    assert.deepEqual(err.info.partialLine, { line: 80, offset: lastStart, bytes: (lines.at(-1) as Buffer).length });
    assert.match(err.message, new RegExp(`^the input: line 80 \\(from byte offset ${lastStart}, \\d+ bytes\\) has no newline: the dump is cut or still being written`));
    assert.deepEqual(await readMessages(maildir), []);
  });

  it('allowPartial: a cut last line is left out and reported, its job keeps its complete lines', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(20, () => 4);
    const lines = interleavedLines(jobs, 3);
    const data = joinLines(lines);
    const last = lines.at(-1) as Buffer;
    const cutAt = data.length - 1 - Math.floor(last.length / 2);
    const s = await run(data.subarray(0, cutAt), { store, maildir, maxOpen: 8, allowPartial: true }, [333]);
    assert.deepEqual(s.partialLine, { line: 80, offset: data.length - 1 - last.length, bytes: cutAt - (data.length - 1 - last.length) });
    assert.equal(s.events, 79);
    // the job of the cut line: its other lines only
    const owner = jobs.find((j) => j.lines.includes(last)) as GenJob;
    const expected = jobs.map((j) => (j === owner ? { ...j, lines: j.lines.filter((l) => l !== last) } : j));
    await assertSplit(expected, store, maildir);
  });

  it('a line longer than the whole buffer is written directly, in order', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(3, () => 3);
    const job = jobs[1] as GenJob;
    job.lines[1] = Buffer.concat([job.lines[1] as Buffer, Buffer.from(` DG.BIG="${'z'.repeat(20_000)}"`)]);
    await run(joinLines(interleavedLines(jobs, 5)), { store, maildir, maxOpen: 8, bufferBytes: 4096 });
    await assertSplit(jobs, store, maildir);
  });

  it('empty input: nothing written, nothing announced, success', async (t) => {
    const { store, maildir } = await dirs(t);
    const s = await run(Buffer.from('\n\n  \n'), { store, maildir });
    assert.equal(s.jobs, 0);
    assert.equal(s.lines, 3);
    assert.deepEqual(await listDir(store), []);
    assert.deepEqual(await readMessages(maildir), []);
  });

  it('the 101-job fixture: 101 files, byte for byte, 101 messages', async (t) => {
    const path = fixturePath();
    if (path === undefined) {
      t.skip('fixture ../shared/fixtures/lb-events/perf_collection_avg_events.log not found');
      return;
    }
    const data = await readFile(path);
    const groups = groupByJobid(data);
    assert.equal(groups.size, 101);
    const { store, maildir } = await dirs(t);
    const s = await run(data, { store, maildir, maxOpen: 8, bufferBytes: 64 * 1024, jpps: 'jp.example.org:8901' }, [65536]);
    assert.equal(s.events, 1782);
    const jobs: GenJob[] = [...groups].map(([jobid, lines]) => ({ jobid, unique: jobid.split('/').pop() as string, lines }));
    await assertSplit(jobs, store, maildir, 'jp.example.org:8901');
  });
});

describe('runExport: bad lines', () => {
  const bad = [
    'this is not ULM',
    'DG.JOBID="not a url" DG.EVNT="X"',
    'DATE=1 DG.EVNT="no job"',
    'DG.JOBID="https://lb.example.org:9000/ok" X="unterminated',
    'DG.JOBID="https://lb.example.org:9000/a b"',
  ];

  function withBad(jobs: GenJob[]): { data: Buffer; badNumbers: number[] } {
    const lines = interleavedLines(jobs, 11);
    const badNumbers: number[] = [];
    const out: Buffer[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (i % 9 === 4) {
        out.push(Buffer.from(bad[badNumbers.length % bad.length] as string));
        badNumbers.push(out.length);
      }
      out.push(lines[i] as Buffer);
    }
    return { data: joinLines(out), badNumbers };
  }

  it('--skip-bad-lines: bad lines counted with their numbers, the rest split correctly', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(25, (j) => 2 + (j % 5));
    const { data, badNumbers } = withBad(jobs);
    const s = await run(data, { store, maildir, maxOpen: 8, bufferBytes: 4096, skipBadLines: true, keepBadLines: 3 });
    assert.equal(s.badLineCount, badNumbers.length);
    assert.deepEqual(s.badLines.map((b) => b.line), badNumbers.slice(0, 3));
    assert.match(s.badLines[0]?.reason ?? '', /field "this" has no '='/);
    assert.match(s.badLines[1]?.reason ?? '', /not a valid job id/);
    assert.match(s.badLines[2]?.reason ?? '', /no DG\.JOBID field/);
    await assertSplit(jobs, store, maildir);
  });

  it('an overlong line is a bad line (skipped with --skip-bad-lines)', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(4, () => 2);
    const lines = sortedLines(jobs);
    lines.splice(3, 0, Buffer.from(`DG.JOBID="https://lb.example.org:9000/Long" X="${'q'.repeat(5000)}"`));
    const s = await run(joinLines(lines), { store, maildir, skipBadLines: true, maxLineBytes: 4096 }, [1000]);
    assert.equal(s.badLineCount, 1);
    assert.match(s.badLines[0]?.reason ?? '', /line is 50\d\d bytes, longer than the limit of 4096/);
    assert.equal(s.badLines[0]?.line, 4);
    await assertSplit(jobs, store, maildir);
  });

  it('without --skip-bad-lines: stops at the first bad line, names it, announces nothing', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(25, (j) => 2 + (j % 5));
    const { data, badNumbers } = withBad(jobs);
    const err = await run(data, { store, maildir, maxOpen: 8, bufferBytes: 4096 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ExportFailure, String(err));
    assert.equal(err.code, 'JP_MALFORMED_MESSAGE');
    assert.equal(err.info.line, badNumbers[0]);
    assert.match(err.message, new RegExp(`^line ${badNumbers[0]}: field "this" has no '='`));
    assert.deepEqual(await readMessages(maildir), []);
  });

  it('all lines bad with --skip-bad-lines is a failure', async (t) => {
    const { store, maildir } = await dirs(t);
    const err = await run(Buffer.from('a\nb\n'), { store, maildir, skipBadLines: true }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ExportFailure);
    assert.match(err.message, /all 2 non-empty lines were bad/);
    assert.deepEqual(await readMessages(maildir), []);
  });
});

describe('runExport: store directory checks', () => {
  it('a missing store directory is a JP_CONFIG error naming it', async (t) => {
    const root = await tempDir(t);
    const store = join(root, 'nope');
    const err = await run(Buffer.alloc(0), { store, maildir: join(root, 'md') }).then(() => undefined, (e: unknown) => e);
    assert.ok(isJpError(err, 'JP_CONFIG'));
    assert.equal(err.message, `store directory ${store} does not exist`);
  });

  it('a store path that is a file is a JP_CONFIG error naming it', async (t) => {
    const root = await tempDir(t);
    const store = join(root, 'file');
    await import('node:fs/promises').then((f) => f.writeFile(store, 'x'));
    const err = await run(Buffer.alloc(0), { store, maildir: join(root, 'md') }).then(() => undefined, (e: unknown) => e);
    assert.ok(isJpError(err, 'JP_CONFIG'));
    assert.equal(err.message, `store directory ${store} is not a directory`);
  });

  it('validates numeric options by name', async (t) => {
    const { store, maildir } = await dirs(t);
    await assert.rejects(run(Buffer.alloc(0), { store, maildir, maxOpen: 0 }), /max-open must be an integer from 1/);
    await assert.rejects(run(Buffer.alloc(0), { store, maildir, jpps: 'nohostport' }), /jpps must be HOST:PORT/);
  });
});

describe('runExport: progress', () => {
  it('reports the split, fsync and announce phases, ending at every job', async (t) => {
    const { store, maildir } = await dirs(t);
    const jobs = makeJobs(12, () => 2);
    const seen: { phase: string; done: number; jobs: number }[] = [];
    await run(joinLines(sortedLines(jobs)), { store, maildir, onProgress: (p) => seen.push({ phase: p.phase, done: p.done, jobs: p.jobs }) }, [500]);
    const phases = [...new Set(seen.map((s) => s.phase))];
    assert.deepEqual(phases, ['split', 'sync', 'announce']);
    assert.deepEqual(seen.filter((s) => s.phase === 'sync').at(-1), { phase: 'sync', done: 12, jobs: 12 });
    assert.deepEqual(seen.filter((s) => s.phase === 'announce').at(-1), { phase: 'announce', done: 12, jobs: 12 });
  });
});
