/**
 * jp-importer's public API (the package entry). The daemon and tools are
 * the bin/ commands; this is what other Node programs may call.
 */
export { uploadFiles, type UploadFilesOptions } from './upload-api/index.js';
export { Spool, type ClaimedMessage, type SpoolOptions, type StoreOptions, DEFAULT_RETRY_POLICY, type RetryPolicy, type MessageMeta } from './maildir/index.js';
export { storeLikeLb } from './maildir/lb-writer.js';
export { formatRegistration, parseRegistration, type Registration } from './messages/registration.js';
export { formatUploadMessage, parseUploadMessage, type UploadMessage } from './messages/keyvalue.js';
export { JpError, type JpErrorCode, isJpError, describeError } from './core/errors.js';
export { classify } from './core/classify.js';
export type { Outcome } from './core/outcome.js';
export { PrimaryClient, type PrimaryClientOptions } from './primary/index.js';
export type { PrimaryApi } from './primary/api.js';
export { startPrimaryDev, type PrimaryDevOptions, type PrimaryDevHandle } from './primary-dev/index.js';
