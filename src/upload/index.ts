/** Dump and sandbox uploads: public surface of src/upload. */
export { createUploadHandler, type UploadHandler, type UploadHandlerDeps } from './handler.js';
export { FtpPool, parseFtpUrl, redactUrl, type FtpPoolOptions, type FtpPoolStats, type FtpTarget, type FtpLease } from './ftp-pool.js';
export { uploadFile, type FtpUploadOptions, type FtpUploadResult } from './ftp-upload.js';
export { SchemeTransports, schemeOf, type UploadSource, type UploadTransport, type TransferOptions, type TransferResult } from './transport.js';
export { FtpTransport } from './ftp-transport.js';
export { GridFtpPool, parseGridftpUrl, type GridFtpPoolOptions, type GridFtpTarget } from './gridftp-pool.js';
export { GridFtpTransport } from './gridftp-transport.js';
export { resolveAllowedFile, resolveAllowedDirs, nodePathFs, type AllowedFile, type PathFs } from './allowed-paths.js';
export { disposeUploaded, STORE_DIR_MODE, type Disposal } from './local-file.js';
export { startUploadWithFailsafe, type UploadOperation } from './start-upload.js';
export { toFtpJpError } from './ftp-errors.js';
