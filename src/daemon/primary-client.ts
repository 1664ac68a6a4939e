/** The PrimaryClient a worker uses for one endpoint, from its options. */
import type { Logger } from '../core/log.js';
import { PrimaryClient } from '../primary/client.js';
import type { WorkerSpec } from './spec.js';

export function primaryClientFor(spec: WorkerSpec, endpoint: string, log: Logger, connections: number): PrimaryClient {
  const o = spec.options;
  return new PrimaryClient({ endpoint, certFile: o.cert, keyFile: o.key, caPath: o.caDir, connections, timeoutMs: o.timeoutMs, logger: log });
}
