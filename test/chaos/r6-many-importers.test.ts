/**
 * R6: four importer processes (own pidfiles) on one registration spool.
 * Nothing crashing: each message is delivered exactly once (the service
 * never answers EEXIST). Two of them SIGKILLed (master and workers) mid-run:
 * the others drain the queue, a restarted one returns the dead claims, every
 * message is delivered at least once and none is lost.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { parseClaimName } from '../../src/queue/names.js';
import { importerArgs, jobId, OWNER, spoolDirs, startImporter, type ImporterProc } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { drained, mapLimit, pollUntil, registerCounts, sized, spoolCounts, storeManyLikeLb } from '../helpers/chaos.js';
import { alive, importerPids, killImporter, stopImporter, workerDeaths } from './procs.js';

const N = sized(2_000, 10_000);
const PROCS = 4;
const CONCURRENCY = 8;

function importerOn(port: number, dir: string, k: number): ImporterProc {
  const args = importerArgs(port, dir, ['--concurrency', String(CONCURRENCY)]);
  args[args.indexOf('-i') + 1] = join(dir, `jp-importer-${k}.pid`);
  return startImporter(args);
}

const delivered = (imp: ImporterProc): number => imp.logs.filter((l) => l['outcome'] === 'delivered').length;

test(`R6: ${PROCS} importer processes on one spool, ${N} registrations: each delivered exactly once`,
  { timeout: sized(180_000, 900_000) }, async (t) => {
    const dir = await tempDir(t);
    const svc = await startService(dir, { hooks: { latencyMs: 2 } });
    t.after(() => svc.close());
    const reg = join(dir, 'reg');
    await spoolDirs(reg);
    const jobs = Array.from({ length: N }, (_, i) => jobId(`r6_${i}`));
    const early = jobs.slice(0, N / 2);
    await storeManyLikeLb(reg, early.map((j) => `${j}\n${OWNER}`));
    const imps = Array.from({ length: PROCS }, (_, k) => importerOn(svc.httpsPort, dir, k));
    t.after(() => imps.forEach((i) => i.child.kill('SIGKILL')));
    await Promise.all(imps.map((i) => i.waitForLog((l) => l.msg === 'jp-importer running', 30_000)));
    // the second half arrives while all four work
    await mapLimit(jobs.slice(N / 2), 8, (j) => storeLikeLb(reg, `${j}\n${OWNER}`));
    await pollUntil(async () => svc.stats().jobs === N && (await drained(reg)), sized(150_000, 850_000), `all ${N} registered`);

    const counts = registerCounts(await readCalls(svc.callsFile));
    assert.equal(counts.ok.size, N);
    for (const j of jobs) assert.ok(counts.ok.has(j), `${j} registered`);
    assert.equal(counts.eexist, 0, 'no duplicate');
    assert.equal(counts.total, N, 'exactly one RegisterJob per message');
    const shares = imps.map(delivered);
    t.diagnostic(`delivered per process: ${shares.join(' ')}`);
    assert.equal(shares.reduce((a, b) => a + b, 0), N, 'the logs agree: one delivery per message');
    assert.ok(shares.filter((s) => s > 0).length >= 2, 'the work was shared');
    for (const imp of imps) assert.deepEqual(workerDeaths(imp), []);
    assert.equal((await spoolCounts(reg)).undeliverable, 0);
    assert.deepEqual(await Promise.all(imps.map((i) => stopImporter(i))), imps.map(() => 0));
  });

test(`R6: ${PROCS} importer processes, two SIGKILLed mid-run (master and workers): every message delivered at least once, none lost`,
  { timeout: sized(180_000, 900_000) }, async (t) => {
    const dir = await tempDir(t);
    // latency keeps every process's requests in flight at the kill
    const svc = await startService(dir, { hooks: { latencyMs: 20 } });
    t.after(() => svc.close());
    const reg = join(dir, 'reg');
    await spoolDirs(reg);
    const jobs = Array.from({ length: N }, (_, i) => jobId(`r6k_${i}`));
    await storeManyLikeLb(reg, jobs.map((j) => `${j}\n${OWNER}`));
    const imps = Array.from({ length: PROCS }, (_, k) => importerOn(svc.httpsPort, dir, k));
    t.after(() => imps.forEach((i) => i.child.kill('SIGKILL')));
    await Promise.all(imps.map((i) => i.waitForLog((l) => l.msg === 'worker running', 30_000)));
    await pollUntil(() => svc.stats().jobs >= N / 4, 120_000, 'a quarter registered', 10);

    const victims = imps.slice(0, 2);
    const pids = victims.flatMap(importerPids);
    assert.equal(pids.length, 4, `two masters and their workers: ${pids.join(', ')}`);
    const beforeKill = svc.stats().jobs;
    victims.forEach(killImporter);
    await Promise.all(victims.map((v) => v.exited));
    await pollUntil(() => pids.every((p) => !alive(p)), 10_000, 'the victims gone', 20);
    const atKill = svc.stats().jobs;

    // the two others drain new/; the victims' claims stay in cur/
    await pollUntil(async () => (await spoolCounts(reg)).new === 0 && (await spoolCounts(reg)).post === 0, sized(120_000, 600_000), 'new/ drained', 100);
    // claims in cur/ held by the victims (the survivors may still hold claims of their own in flight)
    const victimPids = new Set(pids);
    const dead = (await readdir(join(reg, 'cur'))).filter((n) => victimPids.has(parseClaimName(n)?.pid ?? -1)).length;
    t.diagnostic(`killed at ${atKill} registered; claims of the dead left in cur/: ${dead}`);
    assert.ok(beforeKill < N, 'killed mid-run');
    assert.ok(dead > 0 && dead <= 2 * CONCURRENCY, `claims of the dead: at most the messages in flight (${dead})`);

    // a restarted importer (taking over a dead one's pidfile) returns the dead claims
    const again = importerOn(svc.httpsPort, dir, 0);
    t.after(() => again.child.kill('SIGKILL'));
    const back = await again.waitForLog((l) => l.msg === 'returned claims of dead processes to the queue', 30_000);
    assert.equal(back['count'], dead);
    await pollUntil(async () => svc.stats().jobs === N && (await drained(reg)), 60_000, `all ${N} registered`);

    const counts = registerCounts(await readCalls(svc.callsFile));
    t.diagnostic(`duplicates (EEXIST) ${counts.eexist}`);
    assert.equal(counts.ok.size, N);
    for (const j of jobs) assert.ok(counts.ok.has(j), `${j} registered`);
    assert.deepEqual(counts.otherFaults, []);
    assert.ok(counts.eexist <= 2 * CONCURRENCY, `duplicates ${counts.eexist} <= messages in flight in the killed processes`);
    const left = await spoolCounts(reg);
    assert.deepEqual([left.new, left.cur, left.post, left.undeliverable], [0, 0, 0, 0]);
    assert.deepEqual(await Promise.all([...imps.slice(2), again].map((i) => stopImporter(i))), [0, 0, 0]);
  });
