/** jobman requests: configuration, queue layout, handler and results (public API of src/jobman). */
export { loadJobmanConfig, parseJobmanConfig, daphneEnv, maskUrl, describeTarget, type EnvLike } from './config.js';
export type {
  JobmanConfig, DestinationConfig, ResultDbConfig, ClientConfig, DbTarget, DriverName, JobmanMode, DaphneEnv,
} from './config-types.js';
export { JobmanQueue, CONTROL_FILES, controlSuffix, wrongRequestName, type ControlKind, type JobmanQueueOptions } from './queue.js';
export { createJobmanHandler, type JobmanHandler, type JobmanHandlerDeps } from './handler.js';
export { parseRequest, requestUid, type RequestStep, type RequestRow, type Bindable } from './request.js';
export { forwardRequest } from './forward.js';
export { ResultStore, type StoredRecord } from './results/store.js';
export type { StepMessage, RowResult, StepStatus } from './results/message.js';
