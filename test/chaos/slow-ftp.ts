/**
 * A slow FTP link for the chaos tests: a TCP proxy on 127.0.0.1:0 in front
 * of a plain FTP server that rewrites the passive-mode replies (227, 229)
 * so data connections go through it too, and throttles every data
 * connection to `bytesPerSecond` (Infinity = full speed; changeable while
 * running). Give the reference service `destinationBase: proxy.url + '/'`.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Transform, pipeline, type TransformCallback } from 'node:stream';

export interface SlowFtp {
  readonly port: number;
  /** ftp://127.0.0.1:<port> (no trailing slash). */
  readonly url: string;
  setRate(bytesPerSecond: number): void;
  /**
   * The next data connection passes only `bytes` towards the server, then
   * closes the server's side cleanly (FIN) while the client's remaining
   * bytes are swallowed: a truncation the server takes for a complete file.
   */
  truncateNext(bytes: number): void;
  /** Data connections truncated so far. */
  readonly truncated: number;
  /** Bytes that went through data connections (both directions). */
  readonly dataBytes: number;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

export async function startSlowFtp(upstreamPort: number, bytesPerSecond: number): Promise<SlowFtp> {
  let rate = bytesPerSecond;
  let dataBytes = 0;
  let truncateAt: number | undefined;
  let truncated = 0;
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  const track = (s: Socket): Socket => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    return s;
  };

  /** Pass chunks on no faster than the current rate (tokens refilled by elapsed time). */
  const throttle = (): Transform => {
    let allowanceAt = performance.now();
    return new Transform({
      highWaterMark: 16 * 1024,
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        dataBytes += chunk.length;
        if (!Number.isFinite(rate)) return done(null, chunk);
        // the chunk may leave once the link has "sent" everything before it
        const now = performance.now();
        allowanceAt = Math.max(allowanceAt, now) + (chunk.length / rate) * 1000;
        const wait = allowanceAt - now;
        if (wait <= 1) return done(null, chunk);
        setTimeout(() => done(null, chunk), wait);
      },
    });
  };

  /** A one-connection listener forwarding to the upstream data port, throttled. */
  const dataProxy = async (upstreamDataPort: number): Promise<number> => {
    const srv = createServer({ allowHalfOpen: true }, (client) => {
      track(client);
      srv.close();
      servers.delete(srv);
      const up = track(connect({ port: upstreamDataPort, host: HOST, allowHalfOpen: true }));
      if (truncateAt !== undefined) {
        let left = truncateAt;
        truncateAt = undefined;
        truncated++;
        client.on('data', (d: Buffer) => {
          dataBytes += d.length;
          if (left <= 0) return;
          const part = d.subarray(0, left);
          left -= part.length;
          up.write(part);
          if (left <= 0) up.end();
        });
        client.on('end', () => {
          if (left > 0) up.end();
          client.end();
        });
        up.resume();
        return;
      }
      // each direction ends on its own (half-close passes through); an error breaks both
      const onDone = (err: Error | null | undefined): void => {
        if (err) {
          client.destroy();
          up.destroy();
        }
      };
      pipeline(client, throttle(), up, onDone);
      pipeline(up, throttle(), client, onDone);
    });
    servers.add(srv);
    await new Promise<void>((r) => srv.listen(0, HOST, r));
    return (srv.address() as AddressInfo).port;
  };

  /** Rewrite one reply line from the server; resolves with the line to pass on. */
  const rewrite = async (line: string): Promise<string> => {
    const epsv = /^229 (.*)\(\|\|\|(\d+)\|\)(.*)$/.exec(line);
    if (epsv !== null) return `229 ${epsv[1]}(|||${await dataProxy(Number(epsv[2]))}|)${epsv[3]}`;
    const pasv = /^227 (.*?)\(?(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)?(.*)$/.exec(line);
    if (pasv !== null) {
      const p = await dataProxy(Number(pasv[6]) * 256 + Number(pasv[7]));
      return `227 Entering Passive Mode (127,0,0,1,${Math.floor(p / 256)},${p % 256})`;
    }
    return line;
  };

  const control = createServer((client) => {
    track(client);
    const up = track(connect(upstreamPort, HOST));
    client.pipe(up);
    let buf = '';
    let chain = Promise.resolve();
    up.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl + 1);
        buf = buf.slice(nl + 1);
        // replies keep their order even when a rewrite has to open a listener first
        chain = chain.then(async () => {
          const body = line.replace(/\r?\n$/, '');
          const out = await rewrite(body);
          if (!client.destroyed) client.write(Buffer.from(`${out}\r\n`, 'latin1'));
        });
      }
    });
    const end = (): void => {
      void chain.then(() => {
        client.destroy();
        up.destroy();
      });
    };
    up.on('close', end);
    client.on('close', () => up.destroy());
  });
  servers.add(control);
  await new Promise<void>((r) => control.listen(0, HOST, r));
  const port = (control.address() as AddressInfo).port;
  return {
    port,
    url: `ftp://${HOST}:${port}`,
    setRate(r: number) {
      rate = r;
    },
    truncateNext(bytes: number) {
      truncateAt = bytes;
    },
    get truncated() {
      return truncated;
    },
    get dataBytes() {
      return dataBytes;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([...servers].map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
