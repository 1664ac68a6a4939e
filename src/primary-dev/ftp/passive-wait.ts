/**
 * ftp-srv 4.6's STOR/RETR wait for the passive data connection by polling
 * every 50 ms. A client that sends STOR right after opening the data
 * connection (basic-ftp does; with TLS the handshake is still running) then
 * loses up to 50 ms per file, which dominates small uploads. Here the wait
 * ends on the data server's own connection events instead (same 5 s limit,
 * same bluebird TimeoutError the STOR handler catches). Applied once per
 * process, to ftp-srv's passive connector only.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';

interface BluebirdPromise<T> extends Promise<T> {
  timeout(ms: number, message?: string): BluebirdPromise<T>;
}
interface BluebirdStatic {
  resolve<T>(value: T | PromiseLike<T>): BluebirdPromise<T>;
  reject(reason: unknown): BluebirdPromise<never>;
}

interface DataSocket extends EventEmitter {
  connected?: boolean;
}

interface PassiveConnector {
  dataServer: (EventEmitter & { listening: boolean }) | null;
  dataSocket: DataSocket | null;
}

interface PassiveProto {
  waitForConnection(this: PassiveConnector, o?: { timeout?: number; delay?: number }): unknown;
  __jpEventWait?: boolean;
}

export function speedUpPassiveWait(): void {
  const require = createRequire(import.meta.url);
  const passivePath = require.resolve('ftp-srv/src/connector/passive.js');
  const Passive = require(passivePath) as { prototype: PassiveProto };
  // The bluebird ftp-srv itself uses: its TimeoutError is what STOR catches.
  const Bluebird = createRequire(passivePath)('bluebird') as BluebirdStatic;
  const proto = Passive.prototype;
  if (proto.__jpEventWait === true) return;
  const original = proto.waitForConnection;
  proto.waitForConnection = function (this: PassiveConnector, o: { timeout?: number; delay?: number } = {}) {
    const server = this.dataServer;
    if (server === null) return original.call(this, o); // rejects: no passive server
    const ready = (): DataSocket | undefined =>
      this.dataServer !== null && this.dataServer.listening && this.dataSocket?.connected === true ? this.dataSocket : undefined;
    const now = ready();
    if (now !== undefined) return Bluebird.resolve(now);
    const wait = new Promise<DataSocket>((resolve) => {
      const check = (): void => {
        // ftp-srv's own listeners (registered first) mark the socket connected.
        const s = ready();
        if (s === undefined) return;
        server.off('connection', check);
        server.off('secureConnection', check);
        resolve(s);
      };
      server.on('connection', check);
      server.on('secureConnection', check);
    });
    return Bluebird.resolve(wait).timeout(o.timeout ?? 5000);
  };
  proto.__jpEventWait = true;
}
