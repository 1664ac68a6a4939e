/**
 * R14: migration — the original C importer and this one take from the same
 * registration spool at once (spec/maildir.md §5). The C side is
 * test/helpers/c-importer.ts, which claims into work/, ends its
 * transactions and scans post/ exactly as the C maildir code does; both
 * deliver to one reference service.
 *
 * Messages are written by the C store routine's imitation (names
 * `%ld_%ld.<host>`, tmp/ link kept) and by this port's Spool.store (as the
 * exporter and the upload API write); the C side fails a quarter of its
 * transactions (failed-retry: tmp/X linked back into post/), the service
 * refuses bursts of calls (both sides retry through post/), and the daemon
 * is restarted while C transactions are open in work/.
 *
 * Exact counts: every job registered once and no RegisterJob refused as a
 * duplicate; the C side never took a file that is not a message (a
 * retry-state sidecar) and never lost one (a failed-retry without its tmp/
 * link); the daemon never took a message out of work/ (its default
 * --legacy-work-age is an hour), and the spool ends empty.
 *
 * A second test: a C importer killed inside its transactions leaves its
 * messages in work/; the running daemon takes them over once they have
 * been held longer than --legacy-work-age, one log line each.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { Spool } from '../../src/maildir/spool.js';
import { PrimaryClient } from '../../src/primary/client.js';
import { messageOfRetryMeta } from '../../src/queue/names.js';
import { ORPHAN_SIDECAR_AGE_MS, sweepRetrySidecars } from '../../src/queue/retry-sidecars.js';
import { CImporter } from '../helpers/c-importer.js';
import { devCerts } from '../helpers/certs.js';
import { drained, mapLimit, pollUntil, registerCounts, seedFromEnv, sized, sleep, spoolCounts } from '../helpers/chaos.js';
import { importerArgs, jobId, OWNER, spoolDirs, startImporter, type ImporterProc } from '../helpers/daemon.js';
import { rng } from '../helpers/rng.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { stopImporter } from './procs.js';

const N = sized(600, 4000);
const RESTARTS = 2;

function clientFor(port: number): PrimaryClient {
  const c = devCerts();
  return new PrimaryClient({ endpoint: `127.0.0.1:${port}`, certFile: c.client, keyFile: c.clientKey, caPath: c.caDir, timeoutMs: 20_000 });
}

/** `<jobid>\n<owner>`, as the LB server writes a registration; anything else is not a message. */
function parseRegistration(body: string): { job: string; owner: string } | undefined {
  const m = /^(https:\/\/\S+)\n(\/\S.*)$/.exec(body);
  return m === null ? undefined : { job: m[1] as string, owner: m[2] as string };
}

const delivered = (imp: ImporterProc): number => imp.logs.filter((l) => l['outcome'] === 'delivered').length;

test(`R14: the C importer and the daemon on one spool, ${N} registrations: each delivered once, neither takes the other's files`,
  { timeout: sized(240_000, 900_000) }, async (t) => {
    const seed = seedFromEnv();
    const rnd = rng(seed);
    const dir = await tempDir(t);
    const svc = await startService(dir, { hooks: { latencyMs: 2 } });
    t.after(() => svc.close());
    const reg = join(dir, 'reg');
    await spoolDirs(reg);
    await mkdir(join(reg, 'work'), { recursive: true, mode: 0o700 });

    const client = clientFor(svc.httpsPort);
    t.after(() => client.close());
    const notMessages: string[] = [];
    const cimp = new CImporter({
      root: reg, retryS: 1, removeS: 3600,
      holdMs: () => Math.floor(rnd() * 120),
      failNow: () => rnd() < 0.25,
      deliver: async (body, name) => {
        const r = parseRegistration(body);
        if (r === undefined) {
          notMessages.push(name); // C: "Wrong format of message", and the file is deleted
          return;
        }
        await client.registerJob(r.job, r.owner);
      },
    });

    const jobs = Array.from({ length: N }, (_, i) => jobId(`r14_${i}`));
    const ours = new Spool(reg);
    const store = (j: string, i: number): Promise<string> => (i % 2 === 0 ? storeLikeLb(reg, `${j}\n${OWNER}`) : ours.store(`${j}\n${OWNER}`));
    const first = Math.floor(N / 3);
    await mapLimit(jobs.slice(0, first), 16, store);

    const args = importerArgs(svc.httpsPort, dir, ['--concurrency', '4', '--retry-first', '2s', '--retry-max', '4s']);
    let imp = startImporter(args);
    t.after(() => imp.child.kill('SIGKILL'));
    await imp.waitForLog((l) => l.msg === 'jp-importer running', 30_000);
    cimp.start();
    t.after(() => cimp.stop());

    let daemonDeliveries = 0;
    let restartsWithOpenWork = 0;
    // The rest arrives while both consume; faults in bursts; the daemon restarted while C transactions are open.
    const rest = jobs.slice(first);
    const waves = RESTARTS + 1;
    for (let w = 0; w < waves; w++) {
      const from = Math.floor((w * rest.length) / waves);
      const part = rest.slice(from, Math.floor(((w + 1) * rest.length) / waves));
      await mapLimit(part, 8, (j, i) => store(j, first + from + i));
      svc.setHooks({ failNext: 15 });
      if (w < RESTARTS) {
        await pollUntil(async () => cimp.busy > 0 && (await readdir(join(reg, 'work'))).length > 0, 30_000, 'a C transaction open in work/', 5);
        assert.equal(await stopImporter(imp), 0);
        daemonDeliveries += delivered(imp);
        if ((await readdir(join(reg, 'work'))).length > 0) restartsWithOpenWork++;
        imp = startImporter(args);
        await imp.waitForLog((l) => l.msg === 'jp-importer running', 30_000);
      }
    }
    await pollUntil(async () => svc.stats().jobs === N && (await drained(reg)) && (await readdir(join(reg, 'work'))).length === 0,
      sized(200_000, 850_000), `all ${N} registered`, 100);
    await cimp.stop();
    assert.equal(await stopImporter(imp), 0);
    daemonDeliveries += delivered(imp);

    const counts = registerCounts(await readCalls(svc.callsFile));
    assert.equal(counts.ok.size, N, 'every job registered');
    for (const j of jobs) assert.ok(counts.ok.has(j), `${j} registered`);
    assert.equal(counts.eexist, 0, 'no message delivered twice (a second RegisterJob of a job is refused with EEXIST)');
    const okCalls = (await readCalls(svc.callsFile)).filter((c) => c.op === 'RegisterJob' && c.ok).length;
    assert.equal(okCalls, N, 'exactly one successful RegisterJob per message');

    const cOk = cimp.stats.taken.filter((x) => x.outcome === 'ok').length;
    assert.deepEqual(notMessages, [], 'the C importer never took a file that is not a message (a retry-state sidecar)');
    assert.deepEqual(cimp.stats.taken.filter((x) => x.name.startsWith('.') || x.name.endsWith('.meta')), []);
    assert.deepEqual(cimp.stats.errors, [], 'the C importer never lost a message (a failed-retry finds its tmp/ link)');
    assert.equal(cOk + daemonDeliveries, N, 'the two sides delivered every message once between them');
    assert.ok(cOk > 0 && daemonDeliveries > 0, `the work was shared (C ${cOk}, daemon ${daemonDeliveries})`);
    const cRetried = cimp.stats.taken.filter((x) => x.outcome === 'retry').length;
    const cFromPost = cimp.stats.taken.filter((x) => x.from === 'post').length;
    assert.ok(cRetried > 0 && cFromPost > 0, 'the C side went through its retry path');
    assert.ok(restartsWithOpenWork > 0, 'the daemon was restarted while C transactions were open in work/');
    assert.equal(imp.logs.filter((l) => l['outcome'] === 'adopted').length, 0, 'nothing taken out of work/');
    const c = await spoolCounts(reg);
    assert.deepEqual(c, { tmp: 0, new: 0, cur: 0, post: 0, undeliverable: 0 }, 'the spool ends empty, tmp/ links included');
    // A message of ours the C importer took from post/ and delivered leaves its retry state behind: hidden, and swept a day later.
    const orphans = (await readdir(join(reg, 'post'))).filter((n) => !n.startsWith('.tmp-'));
    assert.ok(orphans.every((n) => messageOfRetryMeta(n) !== undefined), `only hidden retry state left in post/: ${orphans.join(' ')}`);
    const sweep = await sweepRetrySidecars(join(reg, 'post'), Date.now() + ORPHAN_SIDECAR_AGE_MS + 60_000,
      { claimedDir: join(reg, 'cur'), elsewhere: [join(reg, 'new'), join(reg, 'work')] });
    assert.equal(sweep.orphansRemoved, orphans.length, 'each is swept once old');
    assert.deepEqual(await readdir(join(reg, 'post')), []);
    t.diagnostic(`R14 seed ${seed}: ${N} messages; C importer delivered ${cOk} (${cRetried} failed-retry, ${cFromPost} taken from post/), `
      + `daemon ${daemonDeliveries}; ${RESTARTS} daemon restarts (${restartsWithOpenWork} with C transactions open in work/); `
      + `${counts.otherFaults.length} injected faults; 0 duplicates, 0 sidecars read by C, 0 lost; ${orphans.length} orphaned retry states swept`);
  });

test('R14: messages a killed C importer left in work/ are taken over once held longer than --legacy-work-age, one log line each',
  { timeout: 60_000 }, async (t) => {
    const dir = await tempDir(t);
    const svc = await startService(dir);
    t.after(() => svc.close());
    const reg = join(dir, 'reg');
    await spoolDirs(reg);
    await mkdir(join(reg, 'work'), { recursive: true, mode: 0o700 });
    const jobs = Array.from({ length: 5 }, (_, i) => jobId(`r14_abandoned_${i}`));
    for (const j of jobs) await storeLikeLb(reg, `${j}\n${OWNER}`);
    const dead = new CImporter({ root: reg, retryS: 300, removeS: 3000, deliver: () => Promise.resolve() });
    const left = [dead.abandonOne(), dead.abandonOne(), dead.abandonOne()];
    assert.ok(left.every((n) => n !== undefined));

    const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--legacy-work-age', '3s']));
    t.after(() => imp.child.kill('SIGKILL'));
    await imp.waitForLog((l) => l.msg === 'jp-importer running', 30_000);
    // The two left in new/ go at once; the three in work/ wait for their age.
    await pollUntil(() => svc.stats().jobs >= 2, 20_000, 'the messages in new/ registered');
    await sleep(1000);
    assert.equal((await readdir(join(reg, 'work'))).length, 3, 'nothing taken from work/ before it is 3 s old');
    await pollUntil(async () => svc.stats().jobs === 5 && (await drained(reg)), 20_000, 'the abandoned messages taken over and registered');
    assert.deepEqual(await readdir(join(reg, 'work')), []);
    const adopted = imp.logs.filter((l) => l['outcome'] === 'adopted');
    assert.deepEqual(adopted.map((l) => l['id']).sort(), [...left].sort(), 'one line per message taken over, with its id');
    for (const l of adopted) assert.ok(Number(l['heldMs']) >= 3000, `held at least 3 s: ${String(l['heldMs'])}`);
    assert.equal(registerCounts(await readCalls(svc.callsFile)).ok.size, 5);
    assert.equal(await stopImporter(imp), 0);
  });
