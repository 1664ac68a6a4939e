/**
 * The STOR/APPE transfer (src/upload/ftp-transfer.ts) against a scripted
 * FTP server on loopback that behaves like ProFTPD refusing a STOR: it
 * resets the data connection, then ~1 ms later sends its 550. The reply is
 * read and decides (no "ECONNRESET (data socket)", no server-down), without
 * needing a ProFTPD binary. Also the passive reply parsers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { classify } from '../../src/core/classify.js';
import { isJpError } from '../../src/core/errors.js';
import { FtpPool } from '../../src/upload/ftp-pool.js';
import { parseEpsv, parsePasv } from '../../src/upload/ftp-transfer.js';
import { uploadFile, type UploadSource } from '../../src/upload/ftp-upload.js';
import { tempDir } from '../helpers/tmp.js';

/** What the server does with the n-th STOR. */
type StorBehaviour =
  | { kind: 'accept' }
  /** Reset the data connection, then send `reply` after `delayMs` (ProFTPD: ~1 ms). */
  | { kind: 'reset-then-reply'; reply: string; delayMs?: number }
  /** Reset the data connection and never reply. */
  | { kind: 'reset-silent' };

interface Scripted {
  port: number;
  stors: string[];
  mkds: string[];
  files: Map<string, Buffer>;
}

async function scriptedFtp(t: TestContext, script: StorBehaviour[]): Promise<Scripted> {
  const state: Scripted = { port: 0, stors: [], mkds: [], files: new Map() };
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  const srv = createServer((ctl) => {
    sockets.add(ctl);
    ctl.on('error', () => undefined);
    const say = (line: string): void => {
      if (!ctl.destroyed) ctl.write(`${line}\r\n`);
    };
    let dataConn: Promise<Socket> | undefined;
    let buf = '';
    say('220 scripted');
    ctl.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const [verb = '', ...rest] = line.split(' ');
        const arg = rest.join(' ');
        switch (verb.toUpperCase()) {
          case 'USER': say('331 password'); break;
          case 'PASS': say('230 in'); break;
          case 'OPTS': case 'TYPE': case 'STRU': say('200 ok'); break;
          case 'QUIT': say('221 bye'); ctl.end(); break;
          case 'MKD': state.mkds.push(arg); say(`257 "${arg}" created`); break;
          case 'CWD': say('250 ok'); break;
          case 'SIZE': {
            const f = state.files.get(arg);
            say(f === undefined ? `550 ${arg}: No such file or directory` : `213 ${f.length}`);
            break;
          }
          case 'EPSV': {
            const ds = createServer();
            servers.add(ds);
            dataConn = new Promise<Socket>((resolve) => ds.once('connection', (s) => {
              sockets.add(s);
              s.on('error', () => undefined);
              ds.close();
              resolve(s);
            }));
            ds.listen(0, '127.0.0.1', () => say(`229 Entering Extended Passive Mode (|||${(ds.address() as AddressInfo).port}|)`));
            break;
          }
          case 'STOR': {
            const b = script[state.stors.length] ?? { kind: 'accept' };
            state.stors.push(arg);
            const conn = dataConn;
            dataConn = undefined;
            if (conn === undefined) {
              say('425 no data connection');
              break;
            }
            void conn.then((s) => {
              if (b.kind === 'accept') {
                const chunks: Buffer[] = [];
                s.on('data', (c: Buffer) => chunks.push(c));
                s.on('end', () => {
                  state.files.set(arg, Buffer.concat(chunks));
                  s.end();
                  say('226 done');
                });
                say('150 go');
              } else {
                s.resetAndDestroy();
                if (b.kind === 'reset-then-reply') setTimeout(() => say(b.reply), b.delayMs ?? 1);
              }
            });
            break;
          }
          default: say('502 not implemented');
        }
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  state.port = (srv.address() as AddressInfo).port;
  t.after(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
    srv.close(() => r());
  }));
  return state;
}

async function localFile(t: TestContext, bytes: number): Promise<{ data: Buffer; src: UploadSource }> {
  const dir = await tempDir(t, 'jp-xfer-');
  const path = join(dir, 'dump');
  const data = randomBytes(bytes);
  await writeFile(path, data);
  const handle = await open(path, 'r');
  t.after(() => handle.close().catch(() => undefined));
  return { data, src: { handle, size: bytes, path } };
}

function pool(t: TestContext, timeoutMs = 5_000): FtpPool {
  const p = new FtpPool({ timeoutMs });
  t.after(() => p.close());
  return p;
}

describe('STOR refused with the data connection reset before the reply (as ProFTPD does)', { timeout: 30_000 }, () => {
  it('no such directory: the 550 is read, the directory made, the STOR repeated: one attempt, bytes equal', async (t) => {
    const ftp = await scriptedFtp(t, [{ kind: 'reset-then-reply', reply: '550 /jobs/j1/dump: No such file or directory' }, { kind: 'accept' }]);
    const { data, src } = await localFile(t, 100_000);
    const res = await uploadFile(pool(t), `ftp://u:p@127.0.0.1:${ftp.port}/jobs/j1/dump`, src);
    assert.equal(res.attempts, 1, 'no reconnect: the refusal was understood');
    assert.deepEqual(ftp.mkds, ['/jobs/j1']);
    assert.deepEqual(ftp.stors, ['/jobs/j1/dump', '/jobs/j1/dump']);
    assert.ok(ftp.files.get('/jobs/j1/dump')?.equals(data));
  });

  it('permission denied: the 550 is the error (retry later, the server answered); no MKD, no reconnect', async (t) => {
    const ftp = await scriptedFtp(t, [{ kind: 'reset-then-reply', reply: '550 /jobs/j2/dump: Permission denied', delayMs: 20 }]);
    const { src } = await localFile(t, 1000);
    const err = await uploadFile(pool(t), `ftp://u:p@127.0.0.1:${ftp.port}/jobs/j2/dump`, src).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_FTP'), String(err));
    assert.equal(err.ftpCode, 550);
    const o = classify(err);
    assert.equal(o.kind, 'retry');
    assert.equal(o.contact, 'answered');
    assert.match(o.reason, /Permission denied/);
    assert.deepEqual(ftp.mkds, []);
    assert.equal(ftp.stors.length, 1);
  });

  it('no reply after the reset: the data connection\'s error, once the wait for the reply ends', async (t) => {
    const ftp = await scriptedFtp(t, [{ kind: 'reset-silent' }]);
    const { src } = await localFile(t, 1000);
    const err = await uploadFile(pool(t, 300), `ftp://u:p@127.0.0.1:${ftp.port}/jobs/j3/dump`, src, { attempts: 1 }).catch((e: unknown) => e);
    assert.ok(isJpError(err, 'JP_NETWORK'), String(err));
    assert.match(err.message, /ECONNRESET \(data socket\)/);
  });
});

describe('passive replies', () => {
  const epsv: Array<[string, number | RegExp]> = [
    ['229 Entering Extended Passive Mode (|||21237|)', 21237],
    ['229 Extended Passive Mode OK (!!!6446!)', 6446],
    ['229 Entering Extended Passive Mode (|||0|)', /cannot read/],
    ['229 Entering Extended Passive Mode (|||70000|)', /cannot read/],
    ['229 nothing here', /cannot read/],
  ];
  for (const [reply, want] of epsv) {
    it(`EPSV ${JSON.stringify(reply)}`, () => {
      if (typeof want === 'number') assert.equal(parseEpsv(reply), want);
      else assert.throws(() => parseEpsv(reply), want);
    });
  }
  const pasv: Array<[string, number | RegExp]> = [
    ['227 Entering Passive Mode (127,0,0,1,82,211).', 82 * 256 + 211],
    ['227 =127,0,0,1,4,1', 1025],
    ['227 Entering Passive Mode (127,0,0,1,0,0).', /cannot read/],
    ['227 nope', /cannot read/],
  ];
  for (const [reply, want] of pasv) {
    it(`PASV ${JSON.stringify(reply)}`, () => {
      if (typeof want === 'number') assert.equal(parsePasv(reply), want);
      else assert.throws(() => parsePasv(reply), want);
    });
  }
});
