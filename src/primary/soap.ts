/**
 * The SOAP codec for the four JP primary service operations the importer
 * uses: request envelopes, and replies turned into results or JpErrors.
 * Pure: no I/O. Element namespace http://glite.org/wsdl/elements/jp,
 * unqualified children, xsd:dateTime times.
 */
import { JpError } from '../core/errors.js';
import type { AttrValue, StartUploadRequest, StartUploadResult } from './api.js';
import {
  children,
  childText,
  describeFault,
  EnvelopeError,
  envelope,
  excerpt,
  faultChain,
  formatDateTime,
  isObject,
  parseDateTime,
  parseEnvelope,
  textOf,
  xmlElement,
  type ParsedEnvelope,
  type SoapFault,
  type XmlNode,
} from './soap-xml.js';

export type PrimaryOperation = 'RegisterJob' | 'StartUpload' | 'CommitUpload' | 'GetJobAttributes';
export const PRIMARY_OPERATIONS: readonly PrimaryOperation[] = ['RegisterJob', 'StartUpload', 'CommitUpload', 'GetJobAttributes'];

// ---------------------------------------------------------------- requests

export function registerJobRequest(job: string, owner: string): string {
  return envelope('RegisterJob', xmlElement('job', job) + xmlElement('owner', owner));
}

export function startUploadRequest(req: StartUploadRequest): string {
  return envelope(
    'StartUpload',
    xmlElement('job', req.job) +
      xmlElement('class', req.class) +
      (req.name === undefined ? '<name xsi:nil="true"/>' : xmlElement('name', req.name)) +
      `<commitBefore>${formatDateTime(req.commitBefore)}</commitBefore>` +
      xmlElement('contentType', req.contentType),
  );
}

export function commitUploadRequest(destination: string): string {
  return envelope('CommitUpload', xmlElement('destination', destination));
}

/** The schema requires at least one attribute (jpe.xsd GetJobAttributes/attributes minOccurs 1): an empty list is refused here. */
export function getJobAttributesRequest(jobid: string, attributes: readonly string[]): string {
  if (attributes.length === 0) {
    throw new JpError('JP_BAD_REQUEST', `GetJobAttributes of ${jobid}: at least one attribute is required (the JP interface refuses an empty list)`);
  }
  return envelope('GetJobAttributes', xmlElement('jobid', jobid) + attributes.map((a) => xmlElement('attributes', a)).join(''));
}

// ---------------------------------------------------------------- replies

/** The JpError for a SOAP fault: JP_SOAP_FAULT with the errno code of the chain. */
export function faultError(op: string, fault: SoapFault, status?: number): JpError {
  const code = faultChain(fault.detail).find((f) => f.code !== undefined)?.code;
  const opts: { faultCode?: number; status?: number } = {};
  if (code !== undefined) opts.faultCode = code;
  if (status !== undefined) opts.status = status;
  return new JpError('JP_SOAP_FAULT', `${op}: ${describeFault(fault)}`, opts);
}

/**
 * Parse a reply body for `op`. HTTP status is used only for messages and for
 * deciding between JP_HTTP_STATUS (non-200 without a fault) and JP_BAD_REPLY.
 * Returns the content of `<opResponse>`.
 */
export function readReply(op: PrimaryOperation, status: number, body: string): XmlNode {
  let env: ParsedEnvelope;
  try {
    env = parseEnvelope(body);
  } catch (e) {
    if (!(e instanceof EnvelopeError)) throw e;
    if (status !== 200) throwStatus(op, status, `${e.message}; body ${excerpt(body)}`);
    throw new JpError('JP_BAD_REPLY', `${op}: reply is not a SOAP envelope: ${e.message}; body ${excerpt(body)}`);
  }
  if (env.kind === 'fault') throw faultError(op, env.fault, status === 200 ? undefined : status);
  if (status !== 200) throwStatus(op, status, `SOAP body <${env.element}> without a fault`);
  const expected = `${op}Response`;
  if (env.element !== expected) {
    throw new JpError('JP_BAD_REPLY', `${op}: expected <${expected}> in the SOAP body, got <${env.element}>`);
  }
  return env.content;
}

function throwStatus(op: string, status: number, detail: string): never {
  throw new JpError('JP_HTTP_STATUS', `${op}: HTTP status ${status} (${detail})`, { status });
}

/**
 * The canonical success reply of RegisterJob, exactly: an XML declaration
 * (optional), a SOAP 1.1 Envelope whose attributes are only namespace
 * declarations, one Body holding one empty RegisterJobResponse — written
 * with an open and a close tag as the real gSOAP service does, or
 * self-closed. Only such a reply with HTTP 200 skips the full parser (most
 * of the cost of a registration); anything else — a fault, HTML from a
 * proxy, a response with content — is parsed and validated in full.
 */
const CANONICAL_REGISTER_OK =
  /^(?:<\?xml version="1\.0"(?: encoding="UTF-8")?\?>\s*)?<([\w.-]+):Envelope(?: xmlns:[\w.-]+="[^"<>]*")+><\1:Body><([\w.-]+):RegisterJobResponse(?: xmlns:[\w.-]+="[^"<>]*")*(?:\/>|><\/\2:RegisterJobResponse>)<\/\1:Body><\/\1:Envelope>\s*$/;
const SOAP_ENV_DECL = 'xmlns:$1="http://schemas.xmlsoap.org/soap/envelope/"';
const JP_ELEMENTS_DECL = '="http://glite.org/wsdl/elements/jp"';

export function isCanonicalRegisterJobOk(status: number, body: string): boolean {
  if (status !== 200 || body.length > 2048) return false;
  const m = CANONICAL_REGISTER_OK.exec(body);
  if (m === null) return false;
  // the prefixes must be bound to the right namespaces
  return body.includes(SOAP_ENV_DECL.replace('$1', m[1] as string)) && body.includes(`xmlns:${m[2] as string}${JP_ELEMENTS_DECL}`);
}

export function parseRegisterJobReply(status: number, body: string): void {
  if (isCanonicalRegisterJobOk(status, body)) return;
  readReply('RegisterJob', status, body);
}

export function parseCommitUploadReply(status: number, body: string): void {
  readReply('CommitUpload', status, body);
}

export function parseStartUploadReply(status: number, body: string): StartUploadResult {
  const c = readReply('StartUpload', status, body);
  const destination = childText(c, 'destination')?.trim();
  if (destination === undefined || destination === '') {
    throw new JpError('JP_BAD_REPLY', 'StartUpload: reply has no <destination>');
  }
  const cb = childText(c, 'commitBefore');
  let commitBefore: Date | undefined;
  if (cb !== undefined && cb.trim() !== '') {
    commitBefore = parseDateTime(cb);
    if (commitBefore === undefined) {
      throw new JpError('JP_BAD_REPLY', `StartUpload: <commitBefore> ${JSON.stringify(cb.slice(0, 60))} is not an xsd:dateTime`);
    }
  }
  return { destination, commitBefore };
}

/** stringOrBlob: `<value><string>..</string></value>`, `<value><blob>base64</blob></value>` or plain text. */
function readValue(n: XmlNode | undefined): string | undefined {
  if (n === undefined) return undefined;
  if (isObject(n)) {
    const s = childText(n, 'string');
    if (s !== undefined) return s;
    const b = childText(n, 'blob');
    if (b !== undefined) return Buffer.from(b.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  return textOf(n);
}

/**
 * Name and value are xsd:string and come back exactly as sent (leading and
 * trailing whitespace, newlines); timestamp (xsd:dateTime) and origin (an
 * enumeration) are trimmed.
 */
export function parseGetJobAttributesReply(status: number, body: string): AttrValue[] {
  const c = readReply('GetJobAttributes', status, body);
  return children(c, 'attrValues').map((a, i) => {
    const name = childText(a, 'name');
    if (name === undefined || name.trim() === '') {
      throw new JpError('JP_BAD_REPLY', `GetJobAttributes: <attrValues> #${i + 1} has no <name>`);
    }
    return {
      name,
      value: readValue(children(a, 'value')[0]),
      timestamp: childText(a, 'timestamp')?.trim() || undefined,
      origin: childText(a, 'origin')?.trim() || undefined,
    };
  });
}
