/**
 * The few places that reach into a dependency's internals, pinned: when a
 * new version moves one, this test says which, where we use it and why,
 * instead of a silent slowdown (or a crash in an operator's daemon).
 *   basic-ftp FTPContext._newSocket  src/upload/ftp-pool.ts   TCP_NODELAY on control sockets (each command waits on
 *                                                             its reply; Nagle + delayed ACK cost ~40 ms a command)
 *   undici lib/dispatcher/pool.js,   src/primary/undici-core.ts  Pool and buildConnector without loading fetch,
 *   lib/core/connect.js                                       WebSocket and caches in every worker (P1, P5); falls back
 *                                                             to the package entry, so a move costs only speed
 *   ftp-srv getNextPasvPort, server, src/primary-dev/ftp/      the reference service's FTP endpoint only (tests, demo):
 *   connector/passive.js             index.ts, passive-wait.ts kernel-chosen passive ports, its port, no 50 ms polling
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { Client } from 'basic-ftp';

const require = createRequire(import.meta.url);
const version = (pkg: string): string => (require(`${pkg}/package.json`) as { version: string }).version;

describe('dependency internals we rely on are still there', () => {
  it('basic-ftp: FTPContext._newSocket (src/upload/ftp-pool.ts replaces it to set TCP_NODELAY)', () => {
    const c = new Client();
    try {
      const ctx = c.ftp as unknown as Record<string, unknown>;
      assert.equal(typeof ctx['_newSocket'], 'function',
        `basic-ftp ${version('basic-ftp')} has no FTPContext._newSocket any more: find its socket hook for src/upload/ftp-pool.ts (TCP_NODELAY), or drop the patch and measure P4a`);
    } finally {
      c.close();
    }
  });

  it('undici: lib/dispatcher/pool.js and lib/core/connect.js are the package\'s Pool and buildConnector (src/primary/undici-core.ts)', () => {
    const pkg = require('undici') as { Pool: unknown; buildConnector: unknown };
    let pool: unknown;
    let connect: unknown;
    try {
      pool = require('undici/lib/dispatcher/pool.js');
      connect = require('undici/lib/core/connect.js');
    } catch (e) {
      assert.fail(`undici ${version('undici')} moved its modules (${(e as Error).message}): src/primary/undici-core.ts falls back to the package entry (slower start of every worker); update its paths`);
    }
    assert.equal(pool, pkg.Pool, `undici ${version('undici')}: lib/dispatcher/pool.js is not the package's Pool`);
    assert.equal(connect, pkg.buildConnector, `undici ${version('undici')}: lib/core/connect.js is not the package's buildConnector`);
  });

  it('ftp-srv: getNextPasvPort, .server after listen, connector/passive.js waitForConnection (the reference service\'s FTP endpoint)', async () => {
    const { FtpSrv } = require('ftp-srv') as { FtpSrv: new (o: object) => Record<string, unknown> & { listen(): Promise<unknown>; close(): Promise<unknown> } };
    const signals = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;
    const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
    const srv = new FtpSrv({ url: 'ftp://127.0.0.1:0', pasv_url: '127.0.0.1', pasv_min: 0, pasv_max: 0 });
    // ftp-srv installs signal handlers that exit the process; the test runner's own stay.
    for (const s of signals) for (const l of process.listeners(s)) if (!before.get(s)?.has(l)) process.removeListener(s, l);
    const v = version('ftp-srv');
    assert.equal(typeof srv['getNextPasvPort'], 'function', `ftp-srv ${v}: no getNextPasvPort to replace (src/primary-dev/ftp/index.ts)`);
    await srv.listen();
    try {
      const server = srv['server'] as { address?: () => unknown } | undefined;
      assert.equal(typeof server?.address, 'function', `ftp-srv ${v}: no .server after listen (src/primary-dev/ftp/index.ts reads its port there)`);
    } finally {
      await srv.close();
    }
    const passive = require('ftp-srv/src/connector/passive.js') as { prototype?: Record<string, unknown> };
    assert.equal(typeof passive.prototype?.['waitForConnection'], 'function',
      `ftp-srv ${v}: connector/passive.js has no waitForConnection (src/primary-dev/ftp/passive-wait.ts replaces it)`);
  });
});
