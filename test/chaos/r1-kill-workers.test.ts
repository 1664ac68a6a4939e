/**
 * R1: registrations while the registration worker is SIGKILLed at random
 * 100–500 ms into each of its runs, for the whole run (until every job is
 * registered and the spool drained): every message delivered, none lost,
 * nothing left claimed, duplicates bounded by kills × messages in flight,
 * and every restart after the minimum delay (each killed worker had made
 * progress, and the master must know it and not back off).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { importerArgs, jobId, OWNER, spoolDirs, startImporter, until } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { drained, FULL, pollUntil, registerCounts, rng, seedFromEnv, sized, spoolCounts, storeManyLikeLb } from '../helpers/chaos.js';
import { startKiller, stopImporter, workerDeaths } from './procs.js';

// CI size: enough work for several lives of a fast worker (each life ends 100–500 ms after its first delivery)
const N = sized(4_000, 10_000);
const CONCURRENCY = 16;
/** Claims a worker can hold: CONCURRENCY being handled plus as many again recording their outcome. */
const MAX_CLAIMED = 2 * CONCURRENCY;
/**
 * Each worker process is killed 100–500 ms after it logged its first
 * delivery (the master rightly backs off a worker that dies before it gets
 * anywhere: src/daemon/master.ts), so every life makes progress and the
 * kills go on until the spool is drained. JP_CHAOS_R1_KILLS caps them.
 */
const KILL_CAP = process.env['JP_CHAOS_R1_KILLS'] === undefined ? undefined : Number(process.env['JP_CHAOS_R1_KILLS']);
// a faster worker drains the spool in fewer lives: the minimum says kills went on, the 3/4 check says until late
const MIN_KILLS = Math.min(sized(5, 15), KILL_CAP ?? Infinity);
/** The master's restart delay after a worker that made progress (restartMinMs default). */
const RESTART_MIN_MS = 1000;

test(`R1: ${N} registrations, the reg worker SIGKILLed 100–500 ms into each of its runs until the spool is drained (${KILL_CAP === undefined ? `at least ${MIN_KILLS}` : `at most ${KILL_CAP}`} kills): all delivered, none lost, cur/ empty, no backoff`,
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
    /** Worker processes that logged a delivery (read incrementally from the importer's log). */
    const delivered = new Set<number>();
    let logRead = 0;
    const hasDelivered = (pid: number): boolean => {
      for (; logRead < imp.logs.length; logRead++) {
        const l = imp.logs[logRead];
        if (l?.msg === 'delivered' && typeof l['pid'] === 'number') delivered.add(l['pid']);
      }
      return delivered.has(pid);
    };
    /** Jobs registered at each kill: shows the kills went on for the whole run. */
    const registeredAtKill: number[] = [];
    const killedPids: number[] = [];
    const killer = startKiller(imp, {
      worker: 'reg', minMs: 100, maxMs: 500, random: rng(seed), ...(KILL_CAP === undefined ? {} : { maxKills: KILL_CAP }),
      armed: hasDelivered,
      probe: async () => (await spoolCounts(reg)).cur,
      onKill: (pid) => {
        registeredAtKill.push(svc.stats().jobs);
        killedPids.push(pid);
      },
    });
    t.after(() => killer.stop());

    const restartDelays = (): number[] => workerDeaths(imp).map((d) => Number(d['restartInMs']));
    try {
      await pollUntil(async () => svc.stats().jobs === N && (await drained(reg)), sized(220_000, 1_700_000),
        `all ${N} registered and the spool drained`);
    } catch (e) {
      t.diagnostic(`stuck: ${svc.stats().jobs} registered, ${killer.kills} kills, restart delays (ms): ${restartDelays().join(' ')}`);
      throw e;
    }
    const kills = await killer.stop();
    // the last kill may have hit a worker that was just recovering: wait for a settled spool again
    await until(() => drained(reg), 60_000, 'spool drained after the last kill');

    const counts = registerCounts(await readCalls(svc.callsFile));
    t.diagnostic(`kills ${kills}, duplicates (EEXIST) ${counts.eexist}, RegisterJob calls ${counts.total}, in cur/ at the kills: ${killer.inCurAtKill.join(' ')}`);
    t.diagnostic(`registered at the kills: ${registeredAtKill.join(' ')}`);
    assert.ok(kills >= MIN_KILLS, `the worker was killed throughout the run (${kills} kills, at least ${MIN_KILLS})`);
    if (KILL_CAP === undefined) {
      assert.ok(registeredAtKill.some((n) => n >= (3 * N) / 4 && n < N), `kills after 3/4 of the jobs were registered (${registeredAtKill.join(' ')})`);
    }
    assert.ok(killer.inCurAtKill.filter((n) => n > 0).length >= kills / 2, 'most kills hit a worker holding claims');
    assert.equal(counts.ok.size, N, 'every job registered');
    for (const j of jobs) assert.ok(counts.ok.has(j), `${j} registered`);
    assert.deepEqual(counts.otherFaults, [], 'no faults but EEXIST');
    assert.ok(counts.eexist <= kills * MAX_CLAIMED, `duplicates ${counts.eexist} <= kills ${kills} x ${MAX_CLAIMED} claimed`);
    assert.equal(counts.total, N + counts.eexist, 'every call is a registration or a counted duplicate');
    const left = await spoolCounts(reg);
    assert.deepEqual({ new: left.new, cur: left.cur, post: left.post, undeliverable: left.undeliverable },
      { new: 0, cur: 0, post: 0, undeliverable: 0 });
    // a kill between removing cur/X and its tmp/ twin (the C producer's second link) leaves the twin
    t.diagnostic(`tmp/ links left by kills: ${left.tmp}`);
    assert.ok(left.tmp <= kills * MAX_CLAIMED);
    try {
      await until(() => workerDeaths(imp).length >= kills, 10_000, 'the master reported every kill');
    } catch (e) {
      const reported = new Set(workerDeaths(imp).map((d) => d['workerPid']));
      t.diagnostic(`killed but not reported dead: ${killedPids.filter((p) => !reported.has(p)).join(' ')}; restart delays (ms): ${restartDelays().join(' ')}`);
      throw e;
    }
    const deaths = workerDeaths(imp);
    assert.equal(deaths.length, kills, 'the master saw every kill (and no other death)');
    assert.ok(deaths.every((d) => d['signal'] === 'SIGKILL'), 'every death was one of our SIGKILLs');
    // Every killed process had delivered 100 ms or more before the kill: the
    // master knew (the worker reports its first outcome at once) and restarts
    // each after the minimum delay.
    const delays = restartDelays();
    const unseen = deaths.filter((d) => d['progressed'] !== true).length;
    t.diagnostic(`restart delays (ms): ${delays.join(' ')}; deaths the master took for no progress: ${unseen}`);
    assert.equal(unseen, 0, 'the master saw every killed worker make progress');
    assert.ok(delays.every((d) => d === RESTART_MIN_MS), `restart delays without backoff (${delays.join(' ')})`);

    assert.equal(await stopImporter(imp), 0);
  });
