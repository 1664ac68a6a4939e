/**
 * R11: a hostile local user with write access to the allowed directory
 * swaps path components while the daemon uploads the files named by its
 * messages: each directory on the way and each file, for a moment, a
 * symlink to a twin outside the allowed directory holding other bytes, or
 * a directory moved out of it. A helper process makes a bounded number of
 * swaps (20,000 at full size) while messages keep coming.
 *
 * Must hold: no byte from outside is read (no upload holds outside bytes,
 * the outside files' access times do not move), nothing outside is removed
 * or moved, and an inside file is gone only if its message was delivered
 * with exactly its bytes uploaded; every other one is still there, whole.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, stat, mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { importerArgs, jobId, spoolDirs, startImporter } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { atimeWorks, drained, pollUntil, seedFromEnv, sized, sleep, spoolCounts, storeMany } from '../helpers/chaos.js';
import { stopImporter } from './procs.js';

const SWAPPER = fileURLToPath(new URL('../fixtures/path-swapper.js', import.meta.url));
const OLD = new Date('2000-01-01T00:00:00Z');
const SWAPS = sized(4_000, 20_000);
const FILES = sized(300, 1_500);
const BATCH = 25;

const insideBytes = (i: number): string => `inside ${i} `.repeat(40 + (i % 7));
const outsideBytes = (i: number): string => `OUTSIDE-SECRET ${i} `.repeat(40);

/** Every regular file below `dir`, path → content. */
async function filesBelow(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) {
      const p = join(e.parentPath, e.name);
      out.set(p, await readFile(p, 'utf8'));
    }
  }
  return out;
}

test('R11: racing any path component for a symlink or a move-out never reads or removes a file outside the allowed directories',
  { timeout: sized(180_000, 900_000) }, async (t) => {
    const dir = await tempDir(t);
    const seed = seedFromEnv();
    t.diagnostic(`seed ${seed}, ${SWAPS} swaps, up to ${FILES} files`);
    const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
    t.after(() => svc.close());
    const allowed = join(dir, 'allowed');
    const outside = join(dir, 'outside');
    const inDir = join(allowed, 'a', 'b');
    const outDir = join(outside, 'a', 'b');
    await mkdir(inDir, { recursive: true });
    await mkdir(outDir, { recursive: true });
    const names = Array.from({ length: FILES }, (_, i) => `f${i}.dump`);
    for (const [i, n] of names.entries()) {
      await writeFile(join(inDir, n), insideBytes(i));
      await writeFile(join(outDir, n), outsideBytes(i));
      await utimes(join(outDir, n), OLD, new Date());
    }
    const outsideBefore = await filesBelow(outside);
    for (const p of outsideBefore.keys()) await utimes(p, OLD, new Date()); // (reading them just now moved it)
    const checkAtime = await atimeWorks(dir);
    if (!checkAtime) t.diagnostic('access times do not move on this file system: the never-read check rests on the uploads alone');
    const root = join(dir, 'dump');
    await spoolDirs(root);

    const plan = {
      swaps: SWAPS, seed, holdMs: 0.6,
      symlinks: [
        { real: join(allowed, 'a'), outside: join(outside, 'a') },
        { real: inDir, outside: outDir },
      ],
      files: names.map((n) => ({ real: join(inDir, n), outside: join(outDir, n) })),
      moves: [
        { real: join(allowed, 'a'), away: join(dir, 'moved-a') },
        { real: inDir, away: join(dir, 'moved-b') },
      ],
    };
    const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--allow-dir', allowed]));
    t.after(() => imp.child.kill('SIGKILL'));

    const planFile = join(dir, 'swap-plan.json');
    await writeFile(planFile, JSON.stringify(plan));
    const swapper = spawn(process.execPath, [SWAPPER, planFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => swapper.kill('SIGKILL'));
    let swapOut = '';
    swapper.stdout.on('data', (b: Buffer) => { swapOut += b.toString(); });
    const swapperDone = new Promise<number | null>((r) => swapper.on('exit', (code) => r(code)));
    let swapping = true;
    void swapperDone.then(() => { swapping = false; });

    // Messages keep coming while the swaps go on (a batch whenever the spool runs low), the jobs named by index.
    const jobOf = new Map<string, number>();
    let next = 0;
    while (swapping && next < FILES) {
      assert.equal(imp.child.exitCode, null, `the importer runs: ${imp.logs.slice(-3).map((l) => JSON.stringify(l)).join('\n')}`);
      if ((await spoolCounts(root)).new < BATCH) {
        const batch = names.slice(next, next + BATCH).map((n, k) => {
          jobOf.set(jobId(`r11_${next + k}`), next + k);
          return formatUploadMessage({ jobid: jobId(`r11_${next + k}`), file: join(inDir, n) });
        });
        await storeMany(root, batch);
        next += batch.length;
      }
      await sleep(20);
    }
    assert.equal(await swapperDone, 0, 'the swapper ran to its end');
    const swapped = JSON.parse(swapOut) as { swaps: number };
    assert.equal(swapped.swaps, SWAPS);
    await pollUntil(() => drained(root), 60_000, 'the dump spool drained', 100).catch(async (e: unknown) => {
      const outcomes = imp.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n');
      throw new Error(`${String(e)}: ${JSON.stringify(await spoolCounts(root))}; last outcomes:\n${outcomes}`);
    });
    assert.equal(await stopImporter(imp), 0);
    t.diagnostic(`${next} messages while ${swapped.swaps} swaps ran`);
    assert.ok(next >= BATCH * 2, `messages kept coming during the race (${next})`);

    // Outside: nothing read, nothing removed or changed.
    const outsideRead: string[] = [];
    const outsideGone: string[] = [];
    for (const [p, text] of outsideBefore) {
      const st = await stat(p).catch(() => undefined);
      if (st === undefined) outsideGone.push(p);
      else if (checkAtime && st.atimeMs !== OLD.getTime()) outsideRead.push(p);
      else assert.equal(await readFile(p, 'utf8'), text, `${p} kept whole`);
    }
    const uploaded = await filesBelow(join(dir, 'primary', 'files'));
    const outsideUploads = [...uploaded].filter(([, text]) => text.includes('OUTSIDE')).map(([p]) => p);
    t.diagnostic(`outside: ${outsideRead.length} read, ${outsideUploads.length} uploaded, ${outsideGone.length} removed`);
    assert.deepEqual(outsideGone, [], 'no file outside the allowed directory removed');
    assert.deepEqual(outsideUploads, [], 'no upload holds bytes from outside the allowed directory');
    assert.deepEqual(outsideRead, [], 'no file outside the allowed directory read');
    assert.deepEqual([...(await filesBelow(outside)).keys()].sort(), [...outsideBefore.keys()].sort(), 'no file outside added or removed');

    // What reached the service: each commit one of this test's jobs, once.
    const calls = await readCalls(svc.callsFile);
    const committed = new Map<number, number>();
    for (const c of calls) {
      if (c.op !== 'CommitUpload' || !c.ok) continue;
      const i = jobOf.get(String(c.job));
      assert.ok(i !== undefined, `a commit for a job of this test: ${String(c.job)}`);
      committed.set(i, (committed.get(i) ?? 0) + 1);
    }
    const uploadedTexts = new Set(uploaded.values());
    // Inside: a file is gone only if it was committed with its own bytes; every other one is whole.
    let gone = 0;
    for (let i = 0; i < next; i++) {
      const p = join(inDir, names[i] as string);
      const here = await readFile(p, 'utf8').catch(() => undefined);
      if (here === undefined) {
        gone++;
        assert.equal(committed.get(i), 1, `${p} was removed: its upload was committed once`);
        assert.ok(uploadedTexts.has(insideBytes(i)), `${p} was removed: the service holds its bytes`);
      } else {
        assert.equal(here, insideBytes(i), `${p} kept whole`);
      }
    }
    const counts = await spoolCounts(root);
    t.diagnostic(`committed ${committed.size}, removed ${gone}, refused or kept ${next - gone}, undeliverable ${counts.undeliverable}`);
    assert.ok(gone > 0, 'some uploads got through the race');
    assert.equal(counts.new + counts.cur + counts.post, 0);
    assert.deepEqual((await readdir(inDir)).filter((n) => !names.includes(n)), [], 'nothing left behind in the directory');
  });
