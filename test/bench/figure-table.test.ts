/**
 * BENCHMARKS.md's table from the benches' outputs (bench/lib/figure-table.ts).
 * The FIGURE lines below are what the benches printed at tiny scale.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BENCHES, figureRows, type BenchSpec } from '../../bench/lib/figure-table.js';

const bench = (name: string): BenchSpec => {
  const b = BENCHES.find((x) => x.name === name);
  assert.ok(b !== undefined, `no bench ${name} in BENCHES`);
  return b;
};

const CAPTURED: Record<string, string> = {
  register: [
    'P1  registrations per second: 200 messages, concurrency C=16 (target: importer ≥ 0.5 × baseline, rate including start-up)',
    '    including start-up:  274 msg/s   ratio 0.31  (official; target ≥ 0.50: MISSED)',
    'FIGURE {"id":"P1","measured":"274 msg/s","baseline":"877 msg/s (bare keep-alive mTLS client)","ratio":"0.31","met":false}',
    '',
    '  targets p50 ≤ 50 ms: MET, p99 ≤ 200 ms: MET',
    'FIGURE {"id":"P2","measured":"p50 2.0 ms, p99 3.0 ms","baseline":"2000 ms poll interval","ratio":"1000× faster (p50)","met":true}',
    '',
    'FIGURE {"id":"P1g","measured":"301 msg/s","baseline":"880 msg/s (bare keep-alive mTLS client)","ratio":"0.34","met":false}',
  ].join('\n'),
  export: [
    '  P3 peak RSS: 74 MiB (target <= 150 MiB): PASS',
    'FIGURE {"id":"P3","measured":"8.5 MB/s","baseline":"awk keeping files open 18.7 MB/s; awk closing per line 23.3 MB/s","ratio":"0.46× / 0.37×","met":false}',
    'FIGURE {"id":"P3 RSS","measured":"74 MiB","baseline":"—","ratio":"—","met":true}',
  ].join('\n'),
  upload: [
    'FIGURE {"id":"P4a","measured":"48.8 files/s (one at a time)","baseline":"43.2 files/s (curl -T per file)","ratio":"1.13×","met":false}',
    'FIGURE {"id":"P4b","measured":"189.3 MB/s","baseline":"323.8 MB/s (curl -T)","ratio":"0.58×","met":false}',
  ].join('\n'),
  gridftp: [
    'FIGURE {"id":"P7a","measured":"85.6 files/s (4 in flight)","baseline":"123.0 files/s (globus-url-copy -fast -f list, one process)","ratio":"0.70×","met":false}',
    'FIGURE {"id":"P7b","measured":"274.9 MB/s","baseline":"98.4 MB/s (globus-url-copy, stream mode)","ratio":"2.79×","met":true}',
  ].join('\n'),
  idle: 'FIGURE {"id":"P5","measured":"CPU 3.00 %, PSS 95.4 MiB, rise 0.0 MiB","baseline":"— (absolute limits)","ratio":"—","met":false}\n',
  jobman: 'FIGURE {"id":"P6","measured":"4,356 rows/s (handler, default layout)","baseline":"10,243 rows/s (the same statements in one plain better-sqlite3 loop)","ratio":"0.53","met":true}\n',
};

test('every bench\'s captured output fills its rows, in table order', () => {
  const { rows, errors } = figureRows(BENCHES.map((b) => ({ bench: b, stdout: CAPTURED[b.name] ?? '' })));
  assert.deepEqual(errors, []);
  assert.deepEqual(rows, [
    '| P1 | registrations/s, 20,000 in new/, importer start-up included (compact replies) | 274 msg/s | 877 msg/s (bare keep-alive mTLS client) | 0.31 | ≥ 0.5 × baseline | **no** |',
    '| P1g | P1 with the service answering in the real gSOAP shapes | 301 msg/s | 880 msg/s (bare keep-alive mTLS client) | 0.34 | ≥ 0.5 × baseline | **no** |',
    '| P2 | pickup latency, idle spool → service | p50 2.0 ms, p99 3.0 ms | 2000 ms poll interval | 1000× faster (p50) | p50 ≤ 50 ms, p99 ≤ 200 ms | yes |',
    '| P3 | lb-dump-exporter MB/s, generated interleaved dump | 8.5 MB/s | awk keeping files open 18.7 MB/s; awk closing per line 23.3 MB/s | 0.46× / 0.37× | ≥ 1.0 × awk (aim 2×) | **no** |',
    '| P3 RSS | exporter peak RSS | 74 MiB | — | — | ≤ 150 MiB | yes |',
    '| P4a | 2,000 × 64 KiB through StartUpload/FTP/CommitUpload | 48.8 files/s (one at a time) | 43.2 files/s (curl -T per file) | 1.13× | ≥ 2 × curl | **no** |',
    '| P4b | one large file | 189.3 MB/s | 323.8 MB/s (curl -T) | 0.58× | ≥ 0.8 × curl | **no** |',
    '| P7a | 2,000 × 64 KiB through StartUpload/GridFTP (GSI)/CommitUpload, real Globus server, 4 in flight | 85.6 files/s (4 in flight) | 123.0 files/s (globus-url-copy -fast -f list, one process) | 0.70× | ≥ 1.5 × globus-url-copy -fast | **no** |',
    '| P7b | one 1 GiB gsiftp:// upload | 274.9 MB/s | 98.4 MB/s (globus-url-copy, stream mode) | 2.79× | ≥ 0.8 × globus-url-copy | yes |',
    '| P5 | idle daemon (master + 3 workers); 100,000 waiting | CPU 3.00 %, PSS 95.4 MiB, rise 0.0 MiB | — (absolute limits) | — | < 1 % CPU, < 250 MiB, rise ≤ 50 MiB | **no** |',
    '| P6 | jobman 1,000 requests × 10 rows on SQLite | 4,356 rows/s (handler, default layout) | 10,243 rows/s (the same statements in one plain better-sqlite3 loop) | 0.53 | ≥ 0.5 × plain loop | yes |',
  ]);
});

// [name, bench, its stdout, rows wanted, errors wanted (regular expressions)]
const cases: [string, string, string, string[], RegExp[]][] = [
  ['a figure without a line reads "no figure"', 'register', CAPTURED['register']?.split('\n').slice(0, 3).join('\n') ?? '', [
    '| P1 | registrations/s, 20,000 in new/, importer start-up included (compact replies) | 274 msg/s | 877 msg/s (bare keep-alive mTLS client) | 0.31 | ≥ 0.5 × baseline | **no** |',
    '| P1g | P1 with the service answering in the real gSOAP shapes | n/a | n/a | n/a | ≥ 0.5 × baseline | no figure |',
    '| P2 | pickup latency, idle spool → service | n/a | n/a | n/a | p50 ≤ 50 ms, p99 ≤ 200 ms | no figure |',
  ], []],
  ['a bench that failed early: every figure "no figure"', 'upload', 'upload bench failed: ECONNREFUSED\n', [
    '| P4a | 2,000 × 64 KiB through StartUpload/FTP/CommitUpload | n/a | n/a | n/a | ≥ 2 × curl | no figure |',
    '| P4b | one large file | n/a | n/a | n/a | ≥ 0.8 × curl | no figure |',
  ], []],
  ['met null reads "not measured"', 'export', 'FIGURE {"id":"P3 RSS","measured":"n/a","baseline":"—","ratio":"—","met":null}\n', [
    '| P3 | lb-dump-exporter MB/s, generated interleaved dump | n/a | n/a | n/a | ≥ 1.0 × awk (aim 2×) | no figure |',
    '| P3 RSS | exporter peak RSS | n/a | — | — | ≤ 150 MiB | not measured |',
  ], []],
  ['a malformed line: the bench\'s rows say so, the error names the line', 'idle', 'idle bench\nFIGURE {"id":"P5","met":true}\n', [
    '| P5 | idle daemon (master + 3 workers); 100,000 waiting | n/a | n/a | n/a | < 1 % CPU, < 250 MiB, rise ≤ 50 MiB | FIGURE error (below) |',
  ], [/^bench:idle: FIGURE line 2 \("FIGURE \{\\"id\\":\\"P5\\",\\"met\\":true\}"\): "measured" must be a non-empty string/]],
  ['a figure of another bench is an error', 'jobman', `${CAPTURED['jobman'] ?? ''}FIGURE {"id":"P5","measured":"x","baseline":"y","ratio":"z","met":true}\n`, [
    '| P6 | jobman 1,000 requests × 10 rows on SQLite | 4,356 rows/s (handler, default layout) | 10,243 rows/s (the same statements in one plain better-sqlite3 loop) | 0.53 | ≥ 0.5 × plain loop | yes |',
  ], [/^bench:jobman: FIGURE P5 is not a figure of this bench \(P6\)$/]],
];

for (const [name, benchName, stdout, wantRows, wantErrors] of cases) {
  test(`figureRows: ${name}`, () => {
    const { rows, errors } = figureRows([{ bench: bench(benchName), stdout }]);
    assert.deepEqual(rows, wantRows);
    assert.equal(errors.length, wantErrors.length, `errors: ${JSON.stringify(errors)}`);
    for (const [i, re] of wantErrors.entries()) assert.match(errors[i] ?? '', re);
  });
}

const benchDir = fileURLToPath(new URL('../../../bench/', import.meta.url));
const distBenchDir = fileURLToPath(new URL('../../bench/', import.meta.url));

test('ids are unique and each bench script reports exactly the figures the table lists for it', () => {
  const ids = BENCHES.flatMap((b) => b.figures.map((f) => f.id));
  assert.equal(new Set(ids).size, ids.length, `duplicate ids in BENCHES: ${ids.join(', ')}`);
  for (const b of BENCHES) {
    assert.ok(existsSync(distBenchDir + b.script), `bench ${b.name}: no compiled script ${distBenchDir}${b.script}`);
    const source = benchDir + b.script.replace(/\.js$/, '.ts');
    const reported = [...readFileSync(source, 'utf8').matchAll(/reportFigure\(\{\s*id: '([^']+)'/g)].map((m) => m[1]).sort();
    assert.deepEqual(reported, b.figures.map((f) => f.id).sort(), `${source}: reportFigure ids against BENCHES in bench/lib/figure-table.ts`);
  }
});
