/**
 * R3: thousands of malformed messages of every kind, mixed with valid ones,
 * on the registration, dump and sandbox spools (half stored before the
 * importer starts, half while it runs): no worker dies, each bad one is kept
 * in undeliverable/ with a .meta giving its reason and nothing of it is sent,
 * every valid one is delivered.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { importerArgs, jobId, OWNER, spoolDirs, startImporter } from '../helpers/daemon.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import {
  drained, mapLimit, okPerJob, pollUntil, rng, seedFromEnv, sized, spoolCounts, storeMany, storeManyLikeLb, undeliverableReasons,
} from '../helpers/chaos.js';
import { stopImporter, workerDeaths } from './procs.js';

const BAD = sized(2_000, 10_000);
const VALID_REG = sized(300, 2_000);
const VALID_DUMP = sized(60, 300);

type Spooled = 'reg' | 'dump' | 'sandbox';
interface BadKind {
  readonly spool: Spooled;
  readonly kind: string;
  /** The reason kept in undeliverable/<name>.meta must match. */
  readonly reason: RegExp;
  /** Body of the i-th message of this kind; undefined for a bad file name. */
  readonly body?: (i: number) => string | Buffer;
  /** A file name in new/ that is reserved. */
  readonly name?: (i: number) => string;
}

function badKinds(files: string): BadKind[] {
  const j = (i: number): string => jobId(`bad_${i}`);
  const reg: BadKind[] = [
    { spool: 'reg', kind: 'empty', reason: /empty/, body: () => Buffer.alloc(0) },
    { spool: 'reg', kind: 'one line', reason: /one line/, body: (i) => j(i) },
    { spool: 'reg', kind: 'binary', reason: /UTF-8|NUL/, body: (i) => Buffer.from([0, 1, 2, 0xff, 0xfe, i & 0xff]) },
    { spool: 'reg', kind: 'invalid UTF-8', reason: /UTF-8/, body: (i) => Buffer.concat([Buffer.from(`${j(i)}\n/CN=`), Buffer.from([0xc3, 0x28])]) },
    { spool: 'reg', kind: 'three lines', reason: /3 lines/, body: (i) => `${j(i)}\n${OWNER}\nmore` },
    { spool: 'reg', kind: 'huge', reason: /limit/, body: (i) => Buffer.alloc(100 * 1024 + i % 7, 0x61) },
    { spool: 'reg', kind: 'bad job id', reason: /job id/, body: (i) => `not a job id ${i}\n${OWNER}` },
    { spool: 'reg', kind: 'job id without unique part', reason: /unique part/, body: () => `https://lb.example.org:9000/\n${OWNER}` },
    { spool: 'reg', kind: 'empty owner', reason: /owner/, body: (i) => `${j(i)}\n   ` },
    { spool: 'reg', kind: 'owner with control characters', reason: /control/, body: (i) => `${j(i)}\n/CN=a\u0007b` },
    { spool: 'reg', kind: 'reserved name .meta', reason: /reserved/, name: (i) => `bad${i}.meta` },
    { spool: 'reg', kind: 'reserved name with a claim', reason: /reserved/, name: (i) => `a${i}:1@h` },
  ];
  const kv = (spool: Spooled): BadKind[] => [
    { spool, kind: 'no jobid', reason: /no jobid/, body: (i) => `file\t${files}/f${i}.dump\n` },
    { spool, kind: 'no file', reason: /no file/, body: (i) => `jobid\t${j(i)}\n` },
    { spool, kind: 'relative path', reason: /absolute/, body: (i) => `jobid\t${j(i)}\nfile\tdumps/f${i}.dump\n` },
    { spool, kind: 'key without value', reason: /no value/, body: (i) => `jobid\t${j(i)}\nfile\n` },
    { spool, kind: 'outside the allowed dirs', reason: /allowed/, body: (i) => formatUploadMessage({ jobid: j(i), file: '/etc/passwd' }) },
    { spool, kind: '../ out of the allowed dir', reason: /allowed/, body: (i) => formatUploadMessage({ jobid: j(i), file: `${files}/../secret` }) },
    { spool, kind: 'missing local file', reason: /does not exist/, body: (i) => formatUploadMessage({ jobid: j(i), file: `${files}/missing${i}.dump` }) },
    { spool, kind: 'bad job id', reason: /job id/, body: (i) => `jobid\tnot-a-url-${i}\nfile\t${files}/f.dump\n` },
    { spool, kind: 'invalid UTF-8', reason: /UTF-8/, body: () => Buffer.from([0x6a, 0x6f, 0x62, 0xc3, 0x28, 0x0a]) },
    { spool, kind: 'huge', reason: /limit/, body: () => Buffer.alloc(80 * 1024, 0x62) },
    { spool, kind: 'empty', reason: /empty|no jobid/, body: () => Buffer.alloc(0) },
    { spool, kind: 'reserved name .meta', reason: /reserved/, name: (i) => `k${i}.meta` },
  ];
  return [...reg, ...kv('dump'), ...kv('sandbox')];
}

interface Planned {
  readonly spool: Spooled;
  readonly kind?: BadKind;
  readonly body?: string | Buffer;
  readonly name?: string;
}

test(`R3: ${BAD} malformed messages of every kind mixed with ${VALID_REG + VALID_DUMP} valid ones: no crash, each bad one kept with its reason, every valid one delivered`,
  { timeout: sized(240_000, 1_200_000) }, async (t) => {
    const seed = seedFromEnv();
    t.diagnostic(`seed ${seed}`);
    const rand = rng(seed);
    const dir = await tempDir(t);
    const svc = await startService(dir, { ftpListen: '127.0.0.1:0' });
    t.after(() => svc.close());
    const files = join(dir, 'files');
    await mkdir(files);
    await writeFile(join(dir, 'secret'), 'secret');
    const roots: Record<Spooled, string> = { reg: join(dir, 'reg'), dump: join(dir, 'dump'), sandbox: join(dir, 'sandbox') };
    for (const r of Object.values(roots)) await spoolDirs(r);

    // the plan: every kind about equally often, shuffled with the valid ones
    const kinds = badKinds(files);
    const plan: Planned[] = [];
    for (let i = 0; i < BAD; i++) {
      const kind = kinds[i % kinds.length] as BadKind;
      plan.push({ spool: kind.spool, kind, ...(kind.body ? { body: kind.body(i) } : { name: (kind.name as (i: number) => string)(i) }) });
    }
    const validReg = Array.from({ length: VALID_REG }, (_, i) => jobId(`ok_${i}`));
    for (const job of validReg) plan.push({ spool: 'reg', body: `${job}\n${OWNER}` });
    const validDump = Array.from({ length: VALID_DUMP }, (_, i) => jobId(`okdump_${i}`));
    await mapLimit(validDump, 16, (_, i) => writeFile(join(files, `ok${i}.dump`), `DG.JOBID="${validDump[i]}"\n`.repeat(1 + (i % 50))));
    validDump.forEach((job, i) => plan.push({ spool: 'dump', body: formatUploadMessage({ jobid: job, file: join(files, `ok${i}.dump`) }) }));
    for (let i = plan.length - 1; i > 0; i--) {
      const k = Math.floor(rand() * (i + 1));
      [plan[i], plan[k]] = [plan[k] as Planned, plan[i] as Planned];
    }

    const kindOf = new Map<string, BadKind>(); // message name -> kind
    const reservedPerSpool: Record<Spooled, number> = { reg: 0, dump: 0, sandbox: 0 };
    async function store(part: Planned[]): Promise<void> {
      for (const s of ['reg', 'dump', 'sandbox'] as const) {
        const mine = part.filter((p) => p.spool === s);
        const named = mine.filter((p) => p.name !== undefined);
        for (const p of named) await writeFile(join(roots[s], 'new', p.name as string), 'x', { mode: 0o600 });
        reservedPerSpool[s] += named.length;
        const bodies = mine.filter((p) => p.body !== undefined);
        // registrations as the LB server writes them, uploads as this port's Spool does
        const names = s === 'reg'
          ? await storeManyLikeLb(roots[s], bodies.map((p) => p.body as string | Buffer))
          : await storeMany(roots[s], bodies.map((p) => p.body as string | Buffer));
        names.forEach((n, i) => {
          const k = bodies[i]?.kind;
          if (k !== undefined) kindOf.set(`${s}/${n}`, k);
        });
      }
    }
    const half = Math.floor(plan.length / 2);
    await store(plan.slice(0, half));
    const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'reg,dump,sandbox', '--allow-dir', files,
      '--retry-first', '1s', '--retry-max', '2s']));
    t.after(() => imp.child.kill('SIGKILL'));
    await imp.waitForLog((l) => l.msg === 'jp-importer running', 30_000);
    await store(plan.slice(half)); // the rest arrives while it works

    const badPerSpool: Record<Spooled, number> = { reg: 0, dump: 0, sandbox: 0 };
    for (const p of plan) if (p.kind !== undefined) badPerSpool[p.spool]++;
    await pollUntil(async () => {
      for (const s of ['reg', 'dump', 'sandbox'] as const) {
        if (!(await drained(roots[s]))) return false;
        if ((await spoolCounts(roots[s])).undeliverable !== badPerSpool[s]) return false;
      }
      return svc.stats().jobs === VALID_REG + VALID_DUMP;
    }, sized(200_000, 1_100_000), 'every message handled', 300);

    assert.deepEqual(workerDeaths(imp), [], 'no worker died');
    assert.equal(imp.logs.filter((l) => l['level'] === 60).length, 0, 'no fatal log line');
    assert.equal(imp.child.exitCode, null, 'the daemon runs');

    // each bad one kept, with the reason of its kind
    const perKind = new Map<string, number>();
    for (const s of ['reg', 'dump', 'sandbox'] as const) {
      const reasons = await undeliverableReasons(roots[s]);
      assert.equal(reasons.size, badPerSpool[s], `${s}: every bad message kept`);
      let refused = 0;
      for (const [name, reason] of reasons) {
        assert.ok(reason.length > 0, `${s}/${name} has a reason`);
        const kind = kindOf.get(`${s}/${name}`);
        if (kind === undefined) {
          // a reserved name, kept under a new safe name
          assert.match(name, /^refused_/, `${s}/${name}: only bad messages are given up`);
          assert.match(reason, /reserved/, `${s}/${name}: ${reason}`);
          refused++;
          continue;
        }
        assert.match(reason, kind.reason, `${s}/${name} (${kind.kind}): ${reason}`);
        perKind.set(`${s}: ${kind.kind}`, (perKind.get(`${s}: ${kind.kind}`) ?? 0) + 1);
      }
      assert.equal(refused, reservedPerSpool[s], `${s}: every reserved name refused`);
    }
    assert.equal(perKind.size, kinds.filter((k) => k.body !== undefined).length, 'every kind seen');

    // every valid one delivered exactly once; nothing sent for the bad ones
    const calls = await readCalls(svc.callsFile);
    const regs = okPerJob(calls, 'RegisterJob');
    for (const job of validReg) assert.equal(regs.get(job), 1, `${job} registered`);
    const commits = okPerJob(calls, 'CommitUpload');
    for (const job of validDump) assert.equal(commits.get(job), 1, `${job} uploaded once`);
    const valid = new Set([...validReg, ...validDump]);
    const strays = calls.filter((c) => c.job !== undefined && !valid.has(String(c.job)));
    assert.deepEqual(strays, [], 'no call for a malformed message');
    assert.equal(commits.size, VALID_DUMP);

    assert.equal(await stopImporter(imp), 0);
  });
