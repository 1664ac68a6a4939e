/**
 * Load for the registration bench: the bare HTTPS baseline client and the
 * LB side (registration messages stored with storeLikeLb), plus spool counts.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'undici';
import { storeLikeLb } from '../../src/maildir/lb-writer.js';
import { formatRegistration } from '../../src/messages/registration.js';
import { registerJobRequest } from '../../src/primary/soap.js';

/** The headers the importer's SOAP client sends. */
const SOAP_HEADERS = { 'content-type': 'text/xml; charset=utf-8', soapaction: '""', accept: 'text/xml' } as const;

/**
 * Bare keep-alive HTTPS client: one RegisterJob call per job, c at a time
 * over c mutual-TLS connections (undici Pool). Returns its start time
 * (Date.now(), taken before the pool is made, so TLS handshakes count).
 */
export async function bareClient(origin: string, tls: { cert: string; key: string; ca: string }, jobs: readonly string[], owner: string, c: number): Promise<number> {
  const bodies = jobs.map((j) => registerJobRequest(j, owner));
  const t0 = Date.now();
  const pool = new Pool(origin, { connections: c, pipelining: 1, connect: { ...tls, rejectUnauthorized: true } });
  let next = 0;
  let bad = 0;
  let firstBad = '';
  try {
    await Promise.all(Array.from({ length: Math.min(c, bodies.length) }, async () => {
      while (next < bodies.length) {
        const i = next++;
        const res = await pool.request({ path: '/', method: 'POST', headers: SOAP_HEADERS, body: bodies[i] as string });
        const text = await res.body.text();
        if (res.statusCode !== 200 && bad++ === 0) firstBad = `HTTP ${res.statusCode}: ${text.slice(0, 300)}`;
      }
    }));
  } finally {
    await pool.close();
  }
  if (bad > 0) throw new Error(`baseline client: ${bad} of ${bodies.length} calls failed; first: ${firstBad}`);
  return t0;
}

/** tmp/ and new/ as the LB server expects them (the importer makes the rest). */
export async function lbSpool(root: string): Promise<void> {
  for (const d of ['tmp', 'new']) await mkdir(join(root, d), { recursive: true, mode: 0o700 });
}

/** Store one registration per job with storeLikeLb, 32 at a time; returns seconds taken. */
export async function fillSpool(root: string, jobs: readonly string[], owner: string): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < jobs.length) {
      const jobid = jobs[next++] as string;
      await storeLikeLb(root, formatRegistration({ jobid, owner }));
    }
  }));
  return (performance.now() - t0) / 1000;
}

async function countDir(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.')).length;
  } catch {
    return 0;
  }
}

/** Entries left in each state directory of a spool. */
export async function leftInSpool(root: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const d of ['new', 'cur', 'post', 'undeliverable', 'tmp']) out[d] = await countDir(join(root, d));
  return out;
}
