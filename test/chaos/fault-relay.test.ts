/**
 * The tests' fault relay (test/helpers/fault-relay.ts) on loopback: bytes
 * pass intact and in order with the delay added, a FIN passes on only after
 * the data before it (also half-closed: the other direction goes on), a
 * reset reaches both sides as an RST and never as a FIN, an RST from a peer
 * is passed on as an RST, stalls hold the data and then let it through.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { FaultRelay, NO_FAULTS, type Faults } from '../helpers/fault-relay.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface SideResult {
  data: Buffer;
  /** 'end' (a FIN) seen before close. */
  ended: boolean;
  error: string | undefined;
}

/** Collect what a socket receives until it closes. */
function collect(s: Socket): Promise<SideResult> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => { ended = true; });
    s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    s.on('close', () => resolve({ data: Buffer.concat(parts), ended, error }));
  });
}

interface Rig {
  relay: FaultRelay;
  /** Resolves with the server side of the next connection. */
  nextServerSide(): Promise<Socket>;
  connectClient(): Socket;
}

async function rig(t: TestContext, faults: Faults, seed = 1): Promise<Rig> {
  const pending: Socket[] = [];
  const waiters: ((s: Socket) => void)[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    const w = waiters.shift();
    if (w !== undefined) w(s);
    else pending.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const targetPort = (server.address() as { port: number }).port;
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const listenPort = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const relay = new FaultRelay('127.0.0.1', [{ listenPort, targetHost: '127.0.0.1', targetPort, tag: 't' }], faults, seed);
  await relay.start();
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await relay.close();
    await new Promise((r) => server.close(r));
  });
  return {
    relay,
    nextServerSide: () => new Promise((resolve) => {
      const s = pending.shift();
      if (s !== undefined) resolve(s);
      else waiters.push(resolve);
    }),
    connectClient: () => {
      const s = connect({ port: listenPort, host: '127.0.0.1', allowHalfOpen: true });
      sockets.add(s);
      return s;
    },
  };
}

test('fault relay: data both ways intact, delayed, FINs passed on after the data (half-close works)', { timeout: 20_000 }, async (t) => {
  const r = await rig(t, { ...NO_FAULTS, delayMs: 100 });
  const up = randomBytes(3_000_000);
  const down = randomBytes(500_000);
  const started = Date.now();
  const client = r.connectClient();
  const clientGot = collect(client);
  const srv = await r.nextServerSide();
  const serverGot = collect(srv);
  client.end(up);
  // The server answers only after the client's FIN (as an FTP server ends a STOR): the half-closed connection carries it.
  srv.once('end', () => srv.end(down));
  const [c, s] = await Promise.all([clientGot, serverGot]);
  const elapsed = Date.now() - started;
  assert.equal(s.error, undefined, 'the server saw no error');
  assert.equal(s.ended, true, 'the server got the FIN');
  assert.equal(sha(s.data), sha(up), 'the server got every byte in order');
  assert.equal(c.error, undefined, 'the client saw no reset (a clean end, not an RST after the FIN exchange)');
  assert.equal(c.ended, true);
  assert.equal(sha(c.data), sha(down));
  assert.ok(elapsed >= 200, `a round trip through 100 ms each way took ${elapsed} ms`);
  const st = r.relay.stats().byTag['t'];
  assert.deepEqual([st?.accepted, st?.resets, st?.bytesIn, st?.bytesOut], [1, 0, up.length, down.length]);
});

test('fault relay: a reset reaches both sides as an RST, never as a FIN', { timeout: 20_000 }, async (t) => {
  const r = await rig(t, { ...NO_FAULTS, delayMs: 20, resetMeanMs: 200 }, 7);
  const client = r.connectClient();
  const clientGot = collect(client);
  const srv = await r.nextServerSide();
  const serverGot = collect(srv);
  // keep sending until the relay cuts it
  const timer = setInterval(() => {
    if (!client.destroyed) client.write(randomBytes(1000));
  }, 10);
  const [c, s] = await Promise.all([clientGot, serverGot]);
  clearInterval(timer);
  assert.equal(c.error, 'ECONNRESET', 'the client got an RST');
  assert.equal(s.error, 'ECONNRESET', 'the server got an RST');
  assert.equal(s.ended, false, 'the server never saw a FIN (it could not take the cut for the end of the data)');
  assert.equal(r.relay.stats().byTag['t']?.resets, 1);
});

test('fault relay: an RST from the target is passed on to the client as an RST', { timeout: 20_000 }, async (t) => {
  const r = await rig(t, { ...NO_FAULTS, delayMs: 20 });
  const client = r.connectClient();
  const clientGot = collect(client);
  const srv = await r.nextServerSide();
  client.write('hello');
  await new Promise((res) => srv.once('data', res));
  srv.resetAndDestroy();
  const c = await clientGot;
  assert.equal(c.error, 'ECONNRESET');
  assert.equal(c.ended, false);
  assert.equal(r.relay.stats().byTag['t']?.resets, 0, 'not counted as a reset of ours');
});

test('fault relay: stalls hold the data for a while, then let all of it through', { timeout: 20_000 }, async (t) => {
  const r = await rig(t, { ...NO_FAULTS, stallMeanMs: 50, stallMs: [300, 300] }, 3);
  const client = r.connectClient();
  const clientGot = collect(client);
  const srv = await r.nextServerSide();
  const serverGot = collect(srv);
  const sent: Buffer[] = [];
  const gaps: number[] = [];
  let last = Date.now();
  srv.on('data', () => {
    gaps.push(Date.now() - last);
    last = Date.now();
  });
  for (let i = 0; i < 40; i++) {
    const b = randomBytes(100);
    sent.push(b);
    client.write(b);
    await new Promise((res) => setTimeout(res, 25));
  }
  client.end();
  srv.once('end', () => srv.end());
  const [c, s] = await Promise.all([clientGot, serverGot]);
  assert.equal(c.error, undefined);
  assert.equal(sha(s.data), sha(Buffer.concat(sent)), 'everything arrived, in order');
  const stalls = r.relay.stats().byTag['t']?.stalls ?? 0;
  assert.ok(stalls >= 1, `${stalls} stalls`);
  assert.ok(Math.max(...gaps) >= 250, `the longest gap at the server was ${Math.max(...gaps)} ms (a 300 ms stall)`);
});
