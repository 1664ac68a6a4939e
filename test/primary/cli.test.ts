import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { JpError } from '../../src/core/errors.js';
import { PrimaryClient } from '../../src/primary/client.js';
import { CLIENT_SUBJECT, devCerts } from '../helpers/certs.js';
import { readCalls } from '../helpers/primary-dev.js';

const CLI = fileURLToPath(new URL('../../src/cli/jp-primary-dev.js', import.meta.url));
const certs = devCerts();
const dirs: string[] = [];
const children = new Set<ChildProcess>();
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Ready {
  listening: { https: string; ftp?: string };
  url: string;
  dataDir: string;
  pid: number;
}

function run(args: string[]): { child: ChildProcess; ready: Promise<Ready>; exit: Promise<{ code: number | null; signal: string | null; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const exit = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      // let the stderr pipe drain
      setImmediate(() => resolve({ code, signal, stderr }));
    });
  });
  const ready = new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 20 s; stderr: ${stderr}`)), 20_000);
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as Ready);
      } catch (e) {
        reject(e);
      }
    });
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${String(code)}) before ready: ${stderr}`));
    });
  });
  ready.catch(() => undefined);
  return { child, ready, exit };
}

async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'jp-primary-cli-'));
  dirs.push(d);
  return d;
}

function baseArgs(dir: string): string[] {
  return ['--listen', '127.0.0.1:0', '-c', certs.server, '-k', certs.serverKey, '-C', certs.caDir, '--data-dir', dir, '--log-level', 'warn'];
}

function client(ready: Ready): PrimaryClient {
  return new PrimaryClient({ endpoint: ready.listening.https, certFile: certs.client, keyFile: certs.clientKey, caPath: certs.caDir, timeoutMs: 20_000 });
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_r, reject) => setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms).unref())]);

describe('jp-primary-dev command', () => {
  it('prints the ready line, serves, and exits 0 on SIGTERM keeping its state', async () => {
    const dir = await dataDir();
    const p = run(baseArgs(dir));
    const ready = await p.ready;
    assert.match(ready.listening.https, /^127\.0\.0\.1:\d+$/);
    assert.equal(ready.url, `https://${ready.listening.https}/`);
    assert.equal(ready.listening.ftp, undefined);
    const c = client(ready);
    const job = `https://lb.example.org:9000/${randomBytes(6).toString('hex')}`;
    await c.registerJob(job, CLIENT_SUBJECT);
    await c.close();
    p.child.kill('SIGTERM');
    const ex = await withTimeout(p.exit, 10_000, 'exit after SIGTERM');
    assert.equal(ex.code, 0, ex.stderr);
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { jobs: Record<string, { owner: string }> };
    assert.equal(state.jobs[job]?.owner, CLIENT_SUBJECT);
    assert.equal((await readCalls(join(dir, 'calls.jsonl'))).length, 1);
  });

  it('a SIGKILLed service keeps every registration it acknowledged (journal)', async () => {
    const dir = await dataDir();
    const p1 = run(baseArgs(dir));
    const c1 = client(await p1.ready);
    const jobs = Array.from({ length: 20 }, () => `https://lb.example.org:9000/${randomBytes(6).toString('hex')}`);
    await Promise.all(jobs.map((j) => c1.registerJob(j, CLIENT_SUBJECT)));
    await c1.close();
    p1.child.kill('SIGKILL');
    await withTimeout(p1.exit, 10_000, 'exit after SIGKILL');

    const p2 = run(baseArgs(dir));
    const c2 = client(await p2.ready);
    for (const j of jobs) {
      await assert.rejects(c2.registerJob(j, CLIENT_SUBJECT), (e: unknown) => e instanceof JpError && e.faultCode === 17);
    }
    await c2.close();
    p2.child.kill('SIGINT');
    assert.equal((await withTimeout(p2.exit, 10_000, 'exit after SIGINT')).code, 0);
  });

  it('--fail-next applies from the start', async () => {
    const dir = await dataDir();
    const p = run([...baseArgs(dir), '--fail-next', '1', '--fail-code', '28']);
    const c = client(await p.ready);
    const job = 'https://lb.example.org:9000/failNextCli';
    await assert.rejects(c.registerJob(job, CLIENT_SUBJECT), (e: unknown) => e instanceof JpError && e.faultCode === 28);
    await c.registerJob(job, CLIENT_SUBJECT);
    await c.close();
    p.child.kill('SIGTERM');
    assert.equal((await withTimeout(p.exit, 10_000, 'exit')).code, 0);
  });

  const bad: [string, string[], RegExp][] = [
    ['bad --listen', ['--listen', 'nowhere'], /--listen "nowhere"/],
    ['missing certificate', ['-c', '/nonexistent/server.pem'], /\/nonexistent\/server\.pem/],
    ['bad --latency-ms', ['--latency-ms', 'soon'], /--latency-ms "soon"/],
    ['zero --upload-window-ms', ['--upload-window-ms', '0'], /--upload-window-ms 0: expected a whole number of ms > 0/],
    ['unknown flag', ['--frobnicate'], /frobnicate/],
    ['--ftps without --ftp-listen', ['--ftps'], /--ftps needs --ftp-listen/],
  ];
  for (const [name, extra, message] of bad) {
    it(`exits 1 with a message: ${name}`, async () => {
      const dir = await dataDir();
      const p = run([...baseArgs(dir), ...extra]);
      const ex = await withTimeout(p.exit, 15_000, 'exit');
      assert.equal(ex.code, 1);
      assert.match(ex.stderr, message);
      assert.match(ex.stderr, /^jp-primary-dev: /);
    });
  }
});
