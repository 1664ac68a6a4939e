/**
 * The dump worker end to end (the real jp-importer CLI, the mutual-TLS
 * reference service) uploading into a real vsftpd whose per-IP connection
 * limit is below the worker's FTP pool size (`421 There are too many
 * connections from your internet address` at greeting while the other
 * connections work). That means "fewer connections": every file is
 * delivered at the first attempt, the destination gate never closes, and
 * the pool logs that it shrank to what the server accepts. (Before, each
 * refusal was a "server down" cycle: 200 small files took 41 s instead of
 * 2 s.) Skipped with the reason printed when vsftpd is missing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatUploadMessage } from '../../src/messages/keyvalue.js';
import { fileVerifier } from '../../src/primary-dev/uploads.js';
import { okPerJob, pollUntil, sized, storeMany } from '../helpers/chaos.js';
import { importerArgs, jobId, listMessages, spoolDirs, startImporter } from '../helpers/daemon.js';
import { startVsftpd } from '../helpers/real-ftp.js';
import { readCalls, startService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const N = sized(60, 200);

test(`per-IP connection limit (vsftpd max_per_ip=2) below --ftp-connections 4: ${N} dumps delivered, no destination-down cycle, pool shrunk`,
  { timeout: 180_000 }, async (t) => {
    const vs = await startVsftpd(t, { maxPerIp: 2 });
    if (vs === undefined) return;
    const dir = await tempDir(t);
    const svc = await startService(dir, { destinationBase: vs.url('/up/'), verifier: fileVerifier(join(vs.root, 'up')) });
    t.after(() => svc.close());
    const files = join(dir, 'files');
    await mkdir(files);
    const plan = Array.from({ length: N }, (_, i) => ({ job: jobId(`limit_${i}`), path: join(files, `limit_${i}.dump`), data: randomBytes(2_000 + i) }));
    for (const p of plan) await writeFile(p.path, p.data);
    await spoolDirs(join(dir, 'dump'));
    await storeMany(join(dir, 'dump'), plan.map((p) => formatUploadMessage({ jobid: p.job, file: p.path })));
    const started = Date.now();
    const imp = startImporter(importerArgs(svc.httpsPort, dir, ['--workers', 'dump', '--ftp-connections', '4', '--allow-dir', files,
      '--retry-first', '1s', '--retry-max', '2s']));
    t.after(() => imp.child.kill('SIGKILL'));
    await pollUntil(async () => okPerJob(await readCalls(svc.callsFile), 'CommitUpload').size === N, 120_000, `${N} committed`, 100)
      .catch((e: unknown) => {
        throw new Error(`${String(e)}; last log lines:\n${imp.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
      });
    const elapsed = Date.now() - started;
    t.diagnostic(`${N} dumps delivered through a 2-connection per-IP limit in ${elapsed} ms`);

    const calls = await readCalls(svc.callsFile);
    const commits = okPerJob(calls, 'CommitUpload');
    for (const p of plan) {
      assert.equal(commits.get(p.job), 1, `${p.job} committed once`);
      const c = calls.find((x) => x.op === 'CommitUpload' && x.ok && x.job === p.job);
      const got = await readFile(join(vs.root, decodeURIComponent(new URL(String(c?.['destination'])).pathname)));
      assert.ok(got.equals(p.data), `${p.job}: bytes equal`);
    }
    await pollUntil(async () => (await listMessages(join(dir, 'dump', 'new'))).length === 0
      && (await listMessages(join(dir, 'dump', 'cur'))).length === 0, 20_000, 'the spool drained');
    assert.deepEqual(await listMessages(join(dir, 'dump', 'undeliverable')), []);
    assert.deepEqual(await listMessages(join(dir, 'dump', 'post')), [], 'no message needed a retry');
    assert.deepEqual(imp.logs.filter((l) => l['destination'] === 'unreachable').map((l) => l['reason']), [], 'the destination gate never closed');
    assert.equal(imp.logs.filter((l) => l['outcome'] === 'retry').length, 0, 'no retry');
    assert.equal(imp.logs.filter((l) => l['outcome'] === 'delivered').length, N);
    const shrunk = imp.logs.filter((l) => l.msg === 'the FTP server refuses more connections from us: using fewer');
    assert.ok(shrunk.length >= 1, 'the pool logged that it uses fewer connections');
    assert.equal(shrunk.at(-1)?.['connections'], 2, 'down to the two the server accepts');
    imp.child.kill('SIGTERM');
    assert.equal(await imp.exited, 0);
  });
