/** The reference primary service in-process, with the dev certificates. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startPrimaryDev, type PrimaryDevHandle, type PrimaryDevOptions } from '../../src/primary-dev/index.js';
import { devCerts } from './certs.js';

export type Call = Record<string, unknown> & { op: string; ok: boolean; job?: string; owner?: string; fault?: number };

export async function startService(dataDir: string, extra: Partial<PrimaryDevOptions> = {}): Promise<PrimaryDevHandle> {
  const c = devCerts();
  return startPrimaryDev({
    listen: '127.0.0.1:0', certFile: c.server, keyFile: c.serverKey, caPath: c.caDir, dataDir: join(dataDir, 'primary'), ...extra,
  });
}

export async function readCalls(callsFile: string): Promise<Call[]> {
  let text = '';
  try {
    text = await readFile(callsFile, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.trim().length > 0).map((l) => JSON.parse(l) as Call);
}

/** Jobs the service registered successfully (each at most once by construction). */
export async function registeredJobs(callsFile: string): Promise<Set<string>> {
  return new Set((await readCalls(callsFile)).filter((c) => c.op === 'RegisterJob' && c.ok).map((c) => String(c.job)));
}
