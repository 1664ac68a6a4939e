/**
 * R1: registrations while the registration worker is SIGKILLed at random
 * every 100–500 ms: every message delivered, none lost, nothing left
 * claimed, duplicates bounded by kills × messages in flight.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { importerArgs, jobId, OWNER, spoolDirs, startImporter, until } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { drained, FULL, pollUntil, registerCounts, rng, seedFromEnv, sized, spoolCounts, storeManyLikeLb } from '../helpers/chaos.js';
import { startKiller, stopImporter, workerDeaths } from './procs.js';

const N = sized(2_000, 10_000);
const CONCURRENCY = 16;
/**
 * The master restarts a worker that died within 30 s of its start after 1 s,
 * doubling up to 60 s (README, Processes): kill k costs 2^(k-1) s of waiting,
 * so the kills are capped (each worker life delivers only tens of messages
 * in 100–500 ms). JP_CHAOS_R1_KILLS overrides the cap.
 */
const MAX_KILLS = Number(process.env['JP_CHAOS_R1_KILLS'] ?? sized(4, 8));

test(`R1: ${N} registrations, the reg worker SIGKILLed at random 100–500 ms into its runs (${MAX_KILLS} kills): all delivered, none lost, cur/ empty`,
  { timeout: sized(240_000, 1_800_000) }, async (t) => {
    const seed = seedFromEnv();
    t.diagnostic(`seed ${seed} (JP_CHAOS_SEED to repeat)${FULL ? ', full size' : ''}`);
    const dir = await tempDir(t);
    // A little latency keeps many requests in flight at every kill.
    const svc = await startService(dir, { hooks: { latencyMs: 5 } });
    t.after(() => svc.close());
    const reg = join(dir, 'reg');
    await spoolDirs(reg);
    const jobs = Array.from({ length: N }, (_, i) => jobId(`r1_${i}`));
    await storeManyLikeLb(reg, jobs.map((j) => `${j}\n${OWNER}`));

    const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--concurrency', String(CONCURRENCY), '--retry-first', '1s', '--retry-max', '2s']));
    t.after(() => imp.child.kill('SIGKILL'));
    await imp.waitForLog((l) => l.msg === 'jp-importer running');
    const killer = startKiller(imp, {
      worker: 'reg', minMs: 100, maxMs: 500, random: rng(seed), maxKills: MAX_KILLS,
      probe: async () => (await spoolCounts(reg)).cur,
    });
    t.after(() => killer.stop());

    await pollUntil(async () => svc.stats().jobs === N && (await drained(reg)), sized(220_000, 1_700_000),
      `all ${N} registered and the spool drained`);
    const kills = await killer.stop();
    // the last kill may have hit a worker that was just recovering: wait for a settled spool again
    await until(() => drained(reg), 60_000, 'spool drained after the last kill');

    const counts = registerCounts(await readCalls(svc.callsFile));
    t.diagnostic(`kills ${kills}, duplicates (EEXIST) ${counts.eexist}, RegisterJob calls ${counts.total}, in cur/ at the kills: ${killer.inCurAtKill.join(' ')}`);
    assert.ok(kills >= Math.min(2, MAX_KILLS), `the worker was killed repeatedly (${kills})`);
    assert.ok(killer.inCurAtKill.some((n) => n > 0), 'kills hit a worker holding claims');
    assert.equal(counts.ok.size, N, 'every job registered');
    for (const j of jobs) assert.ok(counts.ok.has(j), `${j} registered`);
    assert.deepEqual(counts.otherFaults, [], 'no faults but EEXIST');
    assert.ok(counts.eexist <= kills * CONCURRENCY, `duplicates ${counts.eexist} <= kills ${kills} x ${CONCURRENCY} in flight`);
    assert.equal(counts.total, N + counts.eexist, 'every call is a registration or a counted duplicate');
    const left = await spoolCounts(reg);
    assert.deepEqual({ new: left.new, cur: left.cur, post: left.post, undeliverable: left.undeliverable },
      { new: 0, cur: 0, post: 0, undeliverable: 0 });
    // a kill between removing cur/X and its tmp/ twin (the C producer's second link) leaves the twin
    t.diagnostic(`tmp/ links left by kills: ${left.tmp}`);
    assert.ok(left.tmp <= kills * CONCURRENCY);
    await until(() => workerDeaths(imp).length >= kills, 10_000, 'the master reported every kill');
    const deaths = workerDeaths(imp);
    assert.equal(deaths.length, kills, 'the master saw every kill (and no other death)');
    assert.ok(deaths.every((d) => d['signal'] === 'SIGKILL'), 'every death was one of our SIGKILLs');

    assert.equal(await stopImporter(imp), 0);
  });
