/**
 * The JP primary service operations the importer uses
 * (docs/primary-service.md). Implementations throw JpError: JP_SOAP_FAULT (with
 * faultCode), JP_HTTP_STATUS, JP_NETWORK, JP_TLS, JP_TIMEOUT, JP_BAD_REPLY,
 * JP_CREDENTIALS.
 */
export const REGTIME_ATTRIBUTE = 'http://egee.cesnet.cz/en/Schema/JP/System:regtime';

export const UPLOAD_KINDS = {
  dump: { class: 'urn:org.glite.jp.primary:lb', contentType: 'text/lb' },
  sandbox: { class: 'urn:org.glite.jp.primary:isb', contentType: 'tar/lb' },
} as const;
export type UploadKind = keyof typeof UPLOAD_KINDS;

export interface StartUploadRequest {
  readonly job: string;
  readonly class: string;
  /** The file's name; absent: none (sent as xsi:nil, as the original importer does; the service stores the file as `<class>`). */
  readonly name?: string;
  readonly commitBefore: Date;
  readonly contentType: string;
}

export interface StartUploadResult {
  readonly destination: string;
  readonly commitBefore: Date | undefined;
}

export interface AttrValue {
  readonly name: string;
  readonly value: string | undefined;
  readonly timestamp: string | undefined;
  readonly origin: string | undefined;
}

export interface PrimaryApi {
  registerJob(job: string, owner: string, signal?: AbortSignal): Promise<void>;
  startUpload(req: StartUploadRequest, signal?: AbortSignal): Promise<StartUploadResult>;
  commitUpload(destination: string, signal?: AbortSignal): Promise<void>;
  getJobAttributes(jobid: string, attributes: readonly string[], signal?: AbortSignal): Promise<AttrValue[]>;
  close(): Promise<void>;
}
