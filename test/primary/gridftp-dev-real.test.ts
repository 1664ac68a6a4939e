/**
 * jp-primary-dev --gridftp-url against the real Globus GridFTP server, all
 * with the dev PKI from certs/make-dev-certs.sh (its CA directory with
 * <hash>.0 and <hash>.signing_policy, the RSA server certificate for
 * localhost as the GridFTP host credential, its grid-mapfile): RegisterJob
 * makes the job directory the server then writes into (no MKD needed),
 * StartUpload hands out the gsiftp:// destination, our GridFTP client
 * (src/gridftp) and globus-url-copy (with the dev client certificate and
 * its delegation) upload to it, and CommitUpload is refused before the file
 * is there and accepted after. Skipped with the reason printed when the
 * server or globus-url-copy is missing; in CI that fails (./helpers/peers.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { JpError } from '../../src/core/errors.js';
import { GridFtpClient } from '../../src/gridftp/client.js';
import { UPLOAD_KINDS, type StartUploadRequest } from '../../src/primary/api.js';
import { loadCredentials } from '../../src/primary/credentials.js';
import { CLIENT_SUBJECT, devCerts } from '../helpers/certs.js';
import { findGlobusUrlCopy, globusUrlCopy, startGridftpServer, type GridftpServer } from '../helpers/gridftp-server.js';
import { peerMissing } from '../helpers/peers.js';
import { startDevService } from '../helpers/primary-dev.js';
import { tempDir } from '../helpers/tmp.js';

const CLIENT_MD5 = 'fff75d2a8d51e78afdd45ca04ba35f49';

const upload = (job: string, kind: 'dump' | 'sandbox', name?: string): StartUploadRequest => ({
  job,
  class: UPLOAD_KINDS[kind].class,
  contentType: UPLOAD_KINDS[kind].contentType,
  ...(name !== undefined ? { name } : {}),
  commitBefore: new Date(Date.now() + 1000_000),
});

const refusedAsIncomplete = (e: unknown): boolean => {
  assert.ok(e instanceof JpError && e.faultCode === 11, String(e));
  assert.match(e.message, /Uploaded file not found or incomplete/);
  return true;
};

test('gsiftp:// destinations of jp-primary-dev: uploaded by our GridFTP client and by globus-url-copy into the directory made at registration, then committed', { timeout: 120_000 }, async (t) => {
  const certs = devCerts();
  const server = (await startGridftpServer(t, {
    hostCred: { cert: certs.server, key: certs.serverKey },
    caDir: certs.caDir,
    gridMap: certs.gridMap,
  })) as GridftpServer | undefined;
  if (server === undefined) return;
  const svc = await startDevService({ gridftpUrl: server.url(server.root) });
  t.after(() => svc.close());
  const c = svc.client();
  const unique = randomBytes(9).toString('base64url');
  const job = `https://lb.example.org:9000/${unique}`;
  await c.registerJob(job, CLIENT_SUBJECT);
  // data/<md5 of the owner>/<week>/<unique>, 0700: the server (mapped to this user) writes into it.
  const weeks = await readdir(join(server.root, 'data', CLIENT_MD5));
  assert.equal(weeks.length, 1);
  assert.ok(Math.abs(Number(weeks[0]) - Date.now() / 1000 / 604_800) < 1, `week ${String(weeks[0])}`);
  const jobDir = join(server.root, 'data', CLIENT_MD5, weeks[0] as string, unique);
  assert.equal((await stat(jobDir)).mode & 0o777, 0o700, 'RegisterJob made the job directory');
  const expectedCommits: number[] = [];

  await server.explain(async () => {
    // Our client, with the importer's credential as the daemon uses it; no MKD: the directory is there.
    const dump = await c.startUpload(upload(job, 'dump'));
    const url = new URL(dump.destination);
    assert.equal(url.protocol, 'gsiftp:');
    assert.equal(url.port, String(server.port));
    const path = decodeURIComponent(url.pathname);
    assert.equal(path, join(jobDir, 'urn:org.glite.jp.primary:lb'));
    await assert.rejects(c.commitUpload(dump.destination), refusedAsIncomplete);

    const credentials = await loadCredentials({ certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir });
    const g = await GridFtpClient.connect({ host: url.hostname, port: Number(url.port), credentials, timeoutMs: 15_000 });
    t.after(() => g.destroy());
    const data = Buffer.from(Array.from({ length: 2000 }, (_, i) => `DG.JOBID="${job}" DG.SEQ=${i}\n`).join(''));
    const r = await g.upload(path, Readable.from([data]), { size: data.length, mkdirs: false });
    assert.equal(r.size, data.length);
    await g.close();
    await c.commitUpload(dump.destination);
    expectedCommits.push(data.length);
    assert.ok((await readFile(path)).equals(data), 'the committed file holds the uploaded bytes');

    // globus-url-copy (delegation and all) with the dev client certificate.
    const guc = findGlobusUrlCopy();
    if ('missing' in guc) {
      peerMissing(t, guc.missing);
      return;
    }
    const sandbox = await c.startUpload(upload(job, 'sandbox', 'out.tar'));
    assert.equal(decodeURIComponent(new URL(sandbox.destination).pathname), join(jobDir, 'urn:org.glite.jp.primary:isb.out.tar'));
    await assert.rejects(c.commitUpload(sandbox.destination), refusedAsIncomplete);
    const src = join(await tempDir(t, 'jp-guc-src-'), 'out.tar');
    const tar = randomBytes(300_000);
    await writeFile(src, tar);
    const copied = globusUrlCopy([`file://${src}`, sandbox.destination], { cert: certs.client, key: certs.clientKey }, certs.caDir);
    assert.equal(copied.status, 0, `globus-url-copy: ${copied.output}`);
    await c.commitUpload(sandbox.destination);
    expectedCommits.push(tar.length);
    assert.ok((await readFile(join(jobDir, 'urn:org.glite.jp.primary:isb.out.tar'))).equals(tar));
  });

  // calls.jsonl: each upload refused once (EAGAIN) before its file was there, then committed with its size.
  const commits = (await svc.readCalls()).filter((l) => l.op === 'CommitUpload');
  assert.deepEqual(
    commits.map((l) => (l.ok ? l.bytes : l.fault)),
    expectedCommits.flatMap((bytes) => [11, bytes]),
  );
});
