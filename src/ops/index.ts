/** Operator queue tools: `jp-importer status | show | requeue`. */
export { runStatus, collectStatus, type StatusOptions, TEXT_CLAIM_LIMIT, JSON_CLAIM_LIMIT } from './status.js';
export { runShow, type ShowOptions, TEXT_BODY_LIMIT, JSON_BODY_LIMIT } from './show.js';
export { runRequeue, type RequeueOptions, MOVED_LIST_LIMIT } from './requeue.js';
export { subtreesOf, badId, type OpsSubtree, type SpoolDirsOptions } from './subtrees.js';
export {
  EXIT_OK, EXIT_ATTENTION, EXIT_ERROR, DEFAULT_POST_AGE_WARN_MS, type StatusReport, type SubtreeStatus,
} from './status-report.js';
export type { ShowReport } from './show-report.js';
export type { RequeueReport } from './requeue-report.js';
