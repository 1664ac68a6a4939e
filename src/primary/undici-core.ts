/**
 * The two undici pieces the primary client uses (Pool, buildConnector),
 * loaded from their own modules: undici's package entry also loads fetch,
 * WebSocket, the mock agents and the cache stores, about 50 ms of CPU and
 * some MiB of heap in every worker that starts (BENCHMARKS.md P1, P5). Should a
 * later undici move those files, the package entry is used instead
 * (`undiciCoreSource` says which; a test pins it).
 */
import { createRequire } from 'node:module';
import type { buildConnector as BuildConnector, Pool as PoolClass } from 'undici';

const require = createRequire(import.meta.url);

interface UndiciCore {
  readonly Pool: typeof PoolClass;
  readonly buildConnector: typeof BuildConnector;
  readonly source: 'modules' | 'package';
}

function load(): UndiciCore {
  try {
    const Pool = require('undici/lib/dispatcher/pool.js') as unknown;
    const buildConnector = require('undici/lib/core/connect.js') as unknown;
    if (typeof Pool === 'function' && typeof buildConnector === 'function') {
      return { Pool: Pool as typeof PoolClass, buildConnector: buildConnector as typeof BuildConnector, source: 'modules' };
    }
  } catch {
    // another undici layout: the package entry below
  }
  const pkg = require('undici') as { Pool: typeof PoolClass; buildConnector: typeof BuildConnector };
  return { Pool: pkg.Pool, buildConnector: pkg.buildConnector, source: 'package' };
}

const core = load();

export const Pool = core.Pool;
export type Pool = PoolClass;
export const buildConnector = core.buildConnector;
/** Where Pool and buildConnector came from: their own modules, or the package entry (fallback). */
export const undiciCoreSource = core.source;
