import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProgress, formatSummary, ProgressPrinter, type ExportProgress, type ExportSummary } from '../../src/exporter/index.js';

const base: ExportProgress = { phase: 'split', done: 0, bytesRead: 3 * 1048576, lines: 10, events: 9, jobs: 4, badLines: 0, elapsedMs: 2000 };

describe('exporter report lines', () => {
  it('progress per phase', () => {
    assert.equal(formatProgress(base), '3.0 MiB read, 4 jobs, 9 events, 1.6 MB/s');
    assert.equal(formatProgress({ ...base, badLines: 2 }), '3.0 MiB read, 4 jobs, 9 events, 2 bad lines, 1.6 MB/s');
    assert.equal(formatProgress({ ...base, phase: 'sync', done: 3 }), 'fsync of job files: 3 of 4');
    assert.equal(formatProgress({ ...base, phase: 'announce', done: 1 }), 'storing messages: 1 of 4');
  });

  it('summary line names jobs, events, bytes, bad lines and seconds', () => {
    const s: ExportSummary = {
      jobs: 101, events: 1782, lines: 1782, bytesRead: 1883544, bytesWritten: 1883544, badLineCount: 0, badLines: [],
      announced: 101, seconds: 0.5, phases: { split: 0.2, sync: 0.1, announce: 0.2 }, store: '/s',
    };
    assert.equal(formatSummary(s), '101 jobs, 1782 events, 1883544 bytes, 0 bad lines, 0.50 s (3.8 MB/s; split 0.20 s, fsync 0.10 s, announce 0.20 s), 101 messages');
  });

  it('the printer rewrites one line, throttled, and shows every phase change', () => {
    let out = '';
    const p = new ProgressPrinter({ write: (s: string) => (out += s) }, 'x: ', 250);
    p.update({ ...base, elapsedMs: 100 }); // too early
    p.update({ ...base, elapsedMs: 2000 });
    p.update({ ...base, elapsedMs: 2100 }); // throttled
    p.update({ ...base, elapsedMs: 2110, phase: 'sync', done: 1 }); // phase change: shown at once
    p.clear();
    const frames = out.split('\r\x1b[K').filter((f) => f.length > 0);
    assert.deepEqual(frames, ['x: 3.0 MiB read, 4 jobs, 9 events, 1.6 MB/s', 'x: fsync of job files: 1 of 4']);
    assert.ok(out.endsWith('\r\x1b[K'));
  });
});
