/**
 * The upload handler across attempts: an attempt that fails after
 * StartUpload answered hands its upload to the next one (retry outcome →
 * retry state), which finishes it — commit answer lost, transfer cut,
 * commit refused — instead of a new StartUpload the service would refuse.
 * Fake primary service, real FTP endpoint on loopback.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { JpError } from '../../src/core/errors.js';
import type { ClaimedMessage } from '../../src/core/queue.js';
import type { PendingUpload } from '../../src/messages/pending-upload.js';
import { FtpPool } from '../../src/upload/ftp-pool.js';
import { FtpTransport } from '../../src/upload/ftp-transport.js';
import { createUploadHandler, type UploadOutcome as Outcome } from '../../src/upload/handler.js';
import { startTestFtp, type TestFtp } from '../helpers/ftp.js';
import { tempDir } from '../helpers/tmp.js';
import { fault, FakePrimary } from './fake-primary.js';

const JOB = 'https://lb.example.org:9000/RetRy012';
const T0 = Date.parse('2024-05-01T12:00:00Z');
const lostAnswer = (): JpError => new JpError('JP_NETWORK', 'socket hang up (ECONNRESET)');

interface Setup {
  ftp: TestFtp;
  primary: FakePrimary;
  clock: { t: number };
  path: string;
  data: Buffer;
  /** One attempt; `upload` is the retry state an earlier attempt left. */
  attempt(upload?: PendingUpload): Promise<Outcome>;
  serverFile(destination: string): string;
}

async function setup(t: TestContext, bytes = 300_000): Promise<Setup> {
  const ftp = await startTestFtp(t);
  const dir = await realpath(await tempDir(t, 'jp-handler-retry-'));
  const allowed = join(dir, 'dumps');
  await mkdir(allowed);
  const primary = new FakePrimary(ftp.url, ftp.verifier);
  const clock = { t: T0 };
  const handler = createUploadHandler({
    // These tests name files by their base names (--upload-name basename); the default (none) is tested apart.
    uploadName: 'basename',
    primary: () => primary,
    kind: 'dump',
    allowedDirs: [allowed],
    ownerDn: () => '/O=jp-test/CN=importer',
    transport: new FtpTransport(new FtpPool({ timeoutMs: 10_000 })),
    clock: { now: () => clock.t },
    ftpAttempts: 1,
  });
  t.after(() => handler.close());
  const path = join(allowed, 'job.dump');
  const data = randomBytes(bytes);
  await writeFile(path, data);
  const body = Buffer.from(`jobid\t${JOB}\nfile\t${path}\n`);
  const claimed = (upload: PendingUpload | undefined): ClaimedMessage => ({
    name: 'msg', path: join(dir, 'unused'), from: upload === undefined ? 'new' : 'post',
    meta: upload === undefined ? undefined : {
      version: 1, attempts: 1, firstFailureAt: T0, lastAttemptAt: T0, nextAttemptAt: T0, lastError: 'x', history: [], upload,
    },
  });
  return {
    ftp, primary, clock, path, data,
    attempt: (upload) => handler.handle(claimed(upload), body, new AbortController().signal),
    serverFile: (destination) => join(ftp.filesDir, decodeURIComponent(new URL(destination).pathname)),
  };
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

function retryUpload(o: Outcome): PendingUpload {
  assert.equal(o.kind, 'retry', JSON.stringify(o));
  assert.ok(o.kind === 'retry' && o.upload !== undefined, `the retry carries the upload: ${JSON.stringify(o)}`);
  return o.upload;
}

function deliveredNote(o: Outcome): string {
  assert.equal(o.kind, 'delivered', JSON.stringify(o));
  return o.kind === 'delivered' ? o.note ?? '' : '';
}

describe('upload handler across attempts', { timeout: 60_000 }, () => {
  it('commit answer lost after the commit was done: next attempt finds it stored (same size) → delivered, one commit, file removed then', async (t) => {
    const s = await setup(t);
    s.primary.script('CommitUpload', async () => {
      await s.primary.commitNow(`${s.ftp.url}/jobs/1/job.dump`);
      throw lostAnswer();
    });
    const first = await s.attempt();
    const up = retryUpload(first);
    assert.deepEqual(up, {
      destination: `${s.ftp.url}/jobs/1/job.dump`, size: s.data.length, startedAt: T0, commitBefore: T0 + 1_000_000, commitUnknown: true,
    });
    assert.ok(first.kind === 'retry' && first.reason.startsWith('CommitUpload: '), JSON.stringify(first));
    assert.equal(await exists(s.path), true, 'kept until the service confirms');
    // the real service: this job's file is stored, so StartUpload is EEXIST
    s.primary.script('StartUpload', fault(17, 'File already stored or upload in progress'));
    const note = deliveredNote(await s.attempt(up));
    assert.match(note, /already stored: the earlier CommitUpload was done though its answer was lost.*file removed$/);
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload', 'CommitUpload', 'StartUpload', 'GetJobAttributes']);
    assert.equal(s.primary.committed.size, 1);
    assert.ok((await readFile(s.serverFile(up.destination))).equals(s.data));
    assert.equal(await exists(s.path), false);
  });

  it('stored but the destination holds another size: not delivered, retried with the upload kept, file kept', async (t) => {
    const s = await setup(t);
    s.primary.script('CommitUpload', async () => {
      await s.primary.commitNow(`${s.ftp.url}/jobs/1/job.dump`);
      throw lostAnswer();
    });
    const up = retryUpload(await s.attempt());
    await truncate(s.serverFile(up.destination), 1000);
    s.primary.script('StartUpload', fault(17, 'File already stored or upload in progress'));
    const out = await s.attempt(up);
    assert.deepEqual(retryUpload(out), up);
    assert.ok(out.kind === 'retry' && /cannot be confirmed as ours: the destination holds 1000 bytes/.test(out.reason), JSON.stringify(out));
    assert.equal(await exists(s.path), true);
  });

  it('stored but the destination file is gone: not delivered', async (t) => {
    const s = await setup(t);
    const up: PendingUpload = { destination: s.ftp.urlOf('elsewhere/job.dump'), size: s.data.length, startedAt: T0, commitUnknown: true };
    s.primary.script('CommitUpload', fault(2, 'No such upload in progress')).script('StartUpload', fault(17, 'File already stored or upload in progress'));
    const out = await s.attempt(up);
    assert.deepEqual(retryUpload(out), up);
    assert.ok(out.kind === 'retry' && out.reason.includes('does not tell its size'), JSON.stringify(out));
    assert.equal(await exists(s.path), true);
  });

  it('commit answer lost before the commit was done: the next attempt commits it (no second StartUpload)', async (t) => {
    const s = await setup(t);
    s.primary.script('CommitUpload', lostAnswer());
    const up = retryUpload(await s.attempt());
    assert.equal(up.commitUnknown, true);
    const note = deliveredNote(await s.attempt(up));
    assert.match(note, /^committed on retry/);
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload', 'CommitUpload']);
    assert.equal(await exists(s.path), false);
  });

  it('commit unknown, still no answer: retried again, still marked unknown', async (t) => {
    const s = await setup(t);
    const up: PendingUpload = { destination: `${s.ftp.url}/jobs/9/job.dump`, size: s.data.length, startedAt: T0, commitUnknown: true };
    s.primary.script('CommitUpload', lostAnswer());
    assert.deepEqual(retryUpload(await s.attempt(up)), up);
    // a definite refusal does not clear it either: the earlier commit may still have been done
    s.primary.script('CommitUpload', fault(11, 'try again'));
    assert.deepEqual(retryUpload(await s.attempt(up)), up);
  });

  it('commit unknown, but it was never done and the upload expired: StartUpload answers, so upload anew', async (t) => {
    const s = await setup(t);
    const up: PendingUpload = { destination: `${s.ftp.url}/jobs/9/job.dump`, size: s.data.length, startedAt: T0, commitUnknown: true };
    s.primary.script('CommitUpload', fault(2, 'No such upload in progress'));
    const note = deliveredNote(await s.attempt(up));
    assert.match(note, /^committed after a new StartUpload/);
    assert.deepEqual(s.primary.ops(), ['CommitUpload', 'StartUpload', 'CommitUpload']);
    assert.ok((await readFile(s.serverFile(`${s.ftp.url}/jobs/1/job.dump`))).equals(s.data));
  });

  it('transfer cut (retry later): the next attempt resumes into the same destination and commits, no new StartUpload', async (t) => {
    const s = await setup(t, 2_000_000);
    s.ftp.setHooks({ dropAfterBytes: 500_000 });
    const up = retryUpload(await s.attempt());
    assert.equal(up.commitUnknown, false);
    assert.equal(up.destination, `${s.ftp.url}/jobs/1/job.dump`);
    assert.equal(await exists(s.path), true);
    const note = deliveredNote(await s.attempt(up));
    assert.match(note, /^committed into the upload of an earlier attempt \(resumed at byte \d+ of 2000000\)/);
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload']);
    assert.equal(s.ftp.stats().appe, 1);
    assert.ok((await readFile(s.serverFile(up.destination))).equals(s.data));
    assert.equal(await exists(s.path), false);
  });

  it('commit refused with an answer (file incomplete): the next attempt finds the whole file there, sends nothing, commits', async (t) => {
    const s = await setup(t);
    s.primary.script('CommitUpload', fault(11, 'Uploaded file not found or incomplete'));
    const up = retryUpload(await s.attempt());
    assert.equal(up.commitUnknown, false, 'a fault is an answer: not committed');
    const transfers = (): number => s.ftp.stats().stor + s.ftp.stats().appe;
    const before = transfers();
    const note = deliveredNote(await s.attempt(up));
    assert.match(note, /already held all \d+ bytes/);
    assert.equal(transfers(), before, 'nothing sent again');
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload', 'CommitUpload']);
  });

  it('the resumed upload is no longer in progress (CommitUpload ENOENT): StartUpload anew in the same attempt', async (t) => {
    const s = await setup(t);
    s.primary.script('CommitUpload', fault(11, 'try again'));
    const up = retryUpload(await s.attempt());
    s.primary.script('CommitUpload', fault(2, 'No such upload in progress'));
    const note = deliveredNote(await s.attempt(up));
    assert.match(note, /^committed after a new StartUpload/);
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload', 'CommitUpload', 'StartUpload', 'CommitUpload']);
  });

  it('an upload past its commit deadline is not resumed: StartUpload anew', async (t) => {
    const s = await setup(t);
    const up: PendingUpload = {
      destination: `${s.ftp.url}/jobs/9/job.dump`, size: s.data.length, startedAt: T0 - 600_000, commitBefore: T0 - 1, commitUnknown: false,
    };
    assert.match(deliveredNote(await s.attempt(up)), /^committed after a new StartUpload/);
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload']);
    assert.equal(s.ftp.stats().appe, 0);
  });

  it('past its deadline and the new StartUpload fails: the old upload stays recorded', async (t) => {
    const s = await setup(t);
    const up: PendingUpload = {
      destination: `${s.ftp.url}/jobs/9/job.dump`, size: s.data.length, startedAt: T0 - 600_000, commitBefore: T0 - 1, commitUnknown: false,
    };
    s.primary.script('StartUpload', new JpError('JP_NETWORK', 'connect ECONNREFUSED'));
    assert.deepEqual(retryUpload(await s.attempt(up)), up);
  });

  it('the local file changed size since: the recorded upload is not used', async (t) => {
    const s = await setup(t);
    const up: PendingUpload = { destination: `${s.ftp.url}/jobs/9/job.dump`, size: s.data.length + 1, startedAt: T0, commitUnknown: true };
    assert.match(deliveredNote(await s.attempt(up)), /^committed; file removed$/);
    assert.deepEqual(s.primary.ops(), ['StartUpload', 'CommitUpload']);
  });

  it('failures before StartUpload answered carry no upload; a give-up carries none either', async (t) => {
    const s = await setup(t);
    s.primary.script('StartUpload', new JpError('JP_NETWORK', 'connect ECONNREFUSED'));
    const out = await s.attempt();
    assert.equal(out.kind, 'retry');
    assert.ok(out.kind === 'retry' && out.upload === undefined);
    s.primary.script('CommitUpload', fault(1, 'Operation not permitted'));
    const gaveUp = await s.attempt();
    assert.equal(gaveUp.kind, 'giveup');
    assert.equal('upload' in gaveUp, false);
  });
});
