export { runExport, ExportFailure, type BadLine, type ExportSummary, type ExportFailureInfo } from './export.js';
export { EXPORT_DEFAULTS, resolveExportOptions, type ExportOptions, type ExportProgress, type MessageStore } from './options.js';
export { nodeExportFs, type ExportFs } from './fsops.js';
export { parseUlmLine, walkUlmFields, ulmFields, unescapeUlm, DEFAULT_MAX_LINE_BYTES, type UlmLine } from './ulm.js';
export { LineSplitter, type LineSink } from './lines.js';
export { jobMessage } from './announce.js';
export { formatSummary, formatProgress, ProgressPrinter } from './report.js';
export { readChunks } from './input.js';
