/**
 * Load for the upload benches (bench/upload.ts, bench/gridftp.ts): files to
 * upload, registrations, the upload handler driven as the daemon drives it
 * (n messages in flight), and the primary client timed around the transfer.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdir, open, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Outcome } from '../../src/core/outcome.js';
import type { ClaimedMessage } from '../../src/core/queue.js';
import type { PrimaryApi } from '../../src/primary/api.js';
import type { UploadHandler } from '../../src/upload/handler.js';

/** `count` files of `size` random bytes (the same bytes) named `<prefix><n>.dump` in dir. */
export async function makeFiles(dir: string, count: number, size: number, prefix: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const data = randomBytes(size);
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const p = join(dir, `${prefix}${String(i).padStart(5, '0')}.dump`);
    await writeFile(p, data);
    paths.push(p);
  }
  return paths;
}

/** A big file written in 8 MiB chunks (never held in memory whole). */
export async function makeBigFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const chunk = randomBytes(8 << 20);
    for (let off = 0; off < size; off += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, size - off), off);
  } finally {
    await fh.close();
  }
}

/** Run fn over items, `concurrency` at a time. */
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  }));
}

export const jobOf = (tag: string, i: number): string => `https://lb.example.org:9000/bench${tag}${i}`;
const claimed = (i: number): ClaimedMessage => ({ name: `bench-${i}`, path: '/nonexistent', from: 'new', meta: undefined });

/** One upload message per file (job jobOf(tag, i)) through the handler, `concurrency` in flight; seconds taken. */
export async function throughHandler(handler: UploadHandler, files: readonly string[], tag: string, concurrency: number): Promise<number> {
  const signal = new AbortController().signal;
  setMaxListeners(concurrency * 4 + 16, signal); // as the daemon's worker loop does for its shared signal
  const t0 = performance.now();
  await pool(files, concurrency, async (file, i) => {
    const out: Outcome = await handler.handle(claimed(i), Buffer.from(`jobid\t${jobOf(tag, i)}\nfile\t${file}\n`), signal);
    if (out.kind !== 'delivered') throw new Error(`${file}: ${out.kind}: ${out.reason}`);
  });
  return (performance.now() - t0) / 1000;
}

/** Register jobs jobOf(tag, 0 … count-1) for owner, 8 at a time (already registered is fine). */
export async function register(primary: PrimaryApi, tag: string, count: number, owner: string): Promise<void> {
  await pool(Array.from({ length: count }, (_, i) => i), 8, async (i) => {
    await primary.registerJob(jobOf(tag, i), owner).catch((e: unknown) => {
      if (!(typeof e === 'object' && e !== null && (e as { faultCode?: number }).faultCode === 17)) throw e;
    });
  });
}

/** Delete files of at least `atLeast` bytes below dir (uploaded copies of a big file). */
export async function removeLargeFiles(dir: string, atLeast: number): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await removeLargeFiles(p, atLeast);
    else if (e.isFile() && (await stat(p)).size >= atLeast) await unlink(p);
  }
}

/** The primary client, noting when StartUpload answered and CommitUpload was asked (transfer time between). */
export function timedPrimary(primary: PrimaryApi): { api: PrimaryApi; ftpMs: () => number } {
  let started = 0;
  let committing = 0;
  const api: PrimaryApi = {
    registerJob: (job, owner, signal) => primary.registerJob(job, owner, signal),
    getJobAttributes: (jobid, attrs, signal) => primary.getJobAttributes(jobid, attrs, signal),
    close: () => primary.close(),
    startUpload: async (req, signal) => {
      const r = await primary.startUpload(req, signal);
      started = performance.now();
      return r;
    },
    commitUpload: async (dest, signal) => {
      committing = performance.now();
      return primary.commitUpload(dest, signal);
    },
  };
  return { api, ftpMs: () => committing - started };
}
