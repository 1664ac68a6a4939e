/**
 * Stores a message exactly as the LB C library does (docs/spool-protocol.md "Storing"):
 * `<sec>_<usec>.<host>` (printed `%ld_%ld`: 1796621549_62832.host) created O_EXCL 0600 in tmp/ (retrying on EEXIST),
 * written, fsynced, hard-linked into new/, and the tmp/ link KEPT. Used by
 * tests, the demo and benchmarks to play the LB server's part.
 */
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { systemCode } from '../core/errors.js';
import { writeNewFile } from '../queue/fs.js';

let lastUsec = 0;

export async function storeLikeLb(root: string, body: string | Uint8Array, host = hostname()): Promise<string> {
  for (let i = 0; i < 10; i++) {
    // microsecond clock, made strictly increasing within this process
    const nowUsec = Math.max(Math.floor(performance.timeOrigin * 1000 + performance.now() * 1000), lastUsec + 1);
    lastUsec = nowUsec;
    // `%ld_%ld.%s`: the microseconds are not zero-padded (spec/maildir.md §5)
    const name = `${Math.floor(nowUsec / 1e6)}_${nowUsec % 1e6}.${host}`;
    try {
      await writeNewFile(join(root, 'tmp', name), body, 0o600);
    } catch (e) {
      if (systemCode(e) === 'EEXIST') {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      throw e;
    }
    await fsp.link(join(root, 'tmp', name), join(root, 'new', name));
    return name;
  }
  throw new Error(`storeLikeLb: no free name in ${root}/tmp after 10 tries`);
}
