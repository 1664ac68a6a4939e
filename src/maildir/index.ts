export { Spool, pidAlive, type ClaimedMessage, type FailureResult, type SpoolOptions, type StoreOptions } from './spool.js';
export { DEFAULT_RETRY_POLICY, type MessageMeta, type RetryPolicy } from '../queue/retry-state.js';
export { SPOOL_DIRS, STATES, type SpoolState, type SpoolDir } from '../queue/layout.js';
export { badMessageName, parseClaimName, parseNameTime } from '../queue/names.js';
