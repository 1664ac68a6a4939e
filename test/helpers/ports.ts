/** Free loopback TCP ports for the real servers the tests start (FTP, GridFTP). */
import { createServer } from 'node:net';

/** A free loopback TCP port (bound and released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Whether `port` can be bound on loopback now. */
export async function portFree(port: number): Promise<boolean> {
  const s = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((r) => s.close(r));
  return ok;
}

/** `n` consecutive free loopback ports below the ephemeral range (a listener and its data port range). */
export async function freePortRange(n: number): Promise<[number, number]> {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let all = true;
    for (let p = base; p < base + n && all; p++) all = await portFree(p);
    if (all) return [base, base + n - 1];
  }
  throw new Error(`no ${n} consecutive free loopback ports found`);
}
