/**
 * Test-only preload (`node --import <this file> lb-dump-exporter.js ...`):
 * holds the exporter at a known point so that tests can act while it is in
 * the middle of a run, without any hook in the exporter itself.
 *
 * With JP_TEST_PAUSE_DIR set, the first FileHandle.read of a large buffer
 * (the exporter reads its dump in 1 MiB chunks) writes `<dir>/ready`
 * (holding the pid) and waits until `<dir>/go` exists, then reads. Without
 * the variable nothing is changed.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const dir = process.env['JP_TEST_PAUSE_DIR'];
if (dir !== undefined && dir !== '') {
  const h = await open('/dev/null', 'r');
  const proto = Object.getPrototypeOf(h) as { read: (...args: unknown[]) => Promise<unknown> };
  await h.close();
  const read = proto.read;
  let paused = false;
  proto.read = async function pausedRead(this: unknown, ...args: unknown[]): Promise<unknown> {
    const buf = args[0];
    if (!paused && Buffer.isBuffer(buf) && buf.length >= 64 * 1024) {
      paused = true;
      writeFileSync(join(dir, 'ready'), String(process.pid));
      // bounded: a test that never says go must not leave a process behind forever
      for (let i = 0; i < 6000 && !existsSync(join(dir, 'go')); i++) await sleep(10);
    }
    return read.apply(this, args);
  };
}
