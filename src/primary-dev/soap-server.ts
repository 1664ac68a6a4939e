/**
 * Service side of the SOAP codec for the reference primary service:
 * requests in, responses and gSOAP-shaped faults out. Pure.
 */
import {
  children,
  childText,
  envelope,
  EnvelopeError,
  faultEnvelope,
  formatDateTime,
  parseEnvelope,
  textOf,
  JP_ELEM_NS,
  xmlElement,
  xmlEscape,
  type GenericFault,
} from '../primary/soap-xml.js';

export type DevRequest =
  | { readonly op: 'RegisterJob'; readonly job: string; readonly owner: string }
  | {
      readonly op: 'StartUpload';
      readonly job: string;
      readonly class: string;
      /** undefined: sent as xsi:nil (no name), as the original importer does. */
      readonly name: string | undefined;
      readonly commitBefore: string;
      readonly contentType: string;
    }
  | { readonly op: 'CommitUpload'; readonly destination: string }
  | { readonly op: 'GetJobAttributes'; readonly jobid: string; readonly attributes: readonly string[] };

export type DevOp = DevRequest['op'];
export const DEV_OPS: readonly DevOp[] = ['RegisterJob', 'StartUpload', 'CommitUpload', 'GetJobAttributes'];

/** A request that cannot be served: the element name (if any) and why. */
export interface BadRequest {
  readonly op: string;
  readonly problem: string;
}

export type ParsedRequest = { readonly ok: true; readonly req: DevRequest } | { readonly ok: false; readonly bad: BadRequest };

/** A request field exactly as sent ('' when absent). */
function field(content: unknown, name: string): string {
  return childText(content, name) ?? '';
}

const blank = (s: string): boolean => s.trim() === '';

/** `<name xsi:nil="true"/>`: the element is there and says it has no value. */
function isNil(content: unknown, name: string): boolean {
  const n = children(content, name)[0];
  if (typeof n !== 'object' || n === null) return false;
  const v = (n as Record<string, unknown>)['@_nil'];
  return v === 'true' || v === '1';
}

export function parseDevRequest(xml: string): ParsedRequest {
  let element: string;
  let content: unknown;
  try {
    const env = parseEnvelope(xml);
    if (env.kind === 'fault') return { ok: false, bad: { op: 'Fault', problem: 'a Fault is not a request' } };
    element = env.element;
    content = env.content;
  } catch (e) {
    if (e instanceof EnvelopeError) return { ok: false, bad: { op: 'invalid', problem: `not a SOAP request: ${e.message}` } };
    throw e;
  }
  const bad = (problem: string): ParsedRequest => ({ ok: false, bad: { op: element, problem } });
  switch (element) {
    case 'RegisterJob': {
      const job = field(content, 'job');
      const owner = field(content, 'owner');
      if (blank(job)) return bad('<job> missing or empty');
      if (blank(owner)) return bad('<owner> missing or empty');
      return { ok: true, req: { op: 'RegisterJob', job, owner } };
    }
    case 'StartUpload': {
      const job = field(content, 'job');
      const cls = field(content, 'class');
      if (blank(job)) return bad('<job> missing or empty');
      if (blank(cls)) return bad('<class> missing or empty');
      return {
        ok: true,
        req: {
          op: 'StartUpload',
          job,
          class: cls,
          name: isNil(content, 'name') ? undefined : field(content, 'name'),
          commitBefore: field(content, 'commitBefore'),
          contentType: field(content, 'contentType'),
        },
      };
    }
    case 'CommitUpload': {
      const destination = field(content, 'destination');
      if (blank(destination)) return bad('<destination> missing or empty');
      return { ok: true, req: { op: 'CommitUpload', destination } };
    }
    case 'GetJobAttributes': {
      const jobid = field(content, 'jobid');
      if (blank(jobid)) return bad('<jobid> missing or empty');
      const attributes = children(content, 'attributes').map((a) => textOf(a) ?? '');
      return { ok: true, req: { op: 'GetJobAttributes', jobid, attributes } };
    }
    default:
      return bad(`operation ${element} is not implemented`);
  }
}

export interface DevAttrValue {
  readonly name: string;
  readonly value: string;
  /** ms since the epoch. */
  readonly timestamp: number;
  readonly origin: 'SYSTEM' | 'USER' | 'FILE';
}

/**
 * The shape replies are written in. `gsoap` (the default of the service):
 * as the real gSOAP service writes them — every namespace of its table on
 * the Envelope (SOAP-ENV, SOAP-ENC, xsi, xsd, jptype, jpelem, jpsrv), empty
 * responses with an open and a close tag, a fault's detail as
 * `<fault xsi:type="jptype:genericFault">`, and faults sent with
 * `Connection: close`. `compact`: the shape the port wrote before (self-
 * closed empty responses, `jpe:` prefix, `<jpe:genericFault>` detail),
 * kept so that both are tested.
 */
export type ReplyShape = 'gsoap' | 'compact';
export const REPLY_SHAPES: readonly ReplyShape[] = ['gsoap', 'compact'];

const GSOAP_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/"' +
  ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"' +
  ` xmlns:jptype="http://glite.org/wsdl/types/jp" xmlns:jpelem="${JP_ELEM_NS}" xmlns:jpsrv="http://glite.org/wsdl/services/jp"><SOAP-ENV:Body>`;
const GSOAP_CLOSE = '</SOAP-ENV:Body></SOAP-ENV:Envelope>';

function reply(shape: ReplyShape, element: string, children: string): string {
  return shape === 'compact' ? envelope(element, children) : `${GSOAP_OPEN}<jpelem:${element}>${children}</jpelem:${element}>${GSOAP_CLOSE}`;
}

function genericFaultFields(f: GenericFault, depth: number): string {
  let s = '';
  if (f.source !== undefined) s += xmlElement('source', f.source);
  if (f.code !== undefined) s += `<code>${f.code}</code>`;
  if (f.text !== undefined) s += xmlElement('text', f.text);
  if (f.description !== undefined) s += xmlElement('description', f.description);
  if (f.reason !== undefined && depth < 16) s += `<reason>${genericFaultFields(f.reason, depth + 1)}</reason>`;
  return s;
}

function fault(shape: ReplyShape, faultcode: string, faultstring: string, detail: GenericFault): string {
  if (shape === 'compact') return faultEnvelope(faultcode, faultstring, detail);
  return `${GSOAP_OPEN}<SOAP-ENV:Fault><faultcode>${xmlEscape(faultcode)}</faultcode><faultstring>${xmlEscape(faultstring)}</faultstring>` +
    `<detail><fault xsi:type="jptype:genericFault">${genericFaultFields(detail, 0)}</fault></detail></SOAP-ENV:Fault>${GSOAP_CLOSE}`;
}

export function registerJobResponse(shape: ReplyShape = 'compact'): string {
  return reply(shape, 'RegisterJobResponse', '');
}

export function startUploadResponse(destination: string, commitBefore: Date, shape: ReplyShape = 'compact'): string {
  return reply(shape, 'StartUploadResponse', xmlElement('destination', destination) + `<commitBefore>${formatDateTime(commitBefore)}</commitBefore>`);
}

export function commitUploadResponse(shape: ReplyShape = 'compact'): string {
  return reply(shape, 'CommitUploadResponse', '');
}

export function getJobAttributesResponse(values: readonly DevAttrValue[], shape: ReplyShape = 'compact'): string {
  const items = values.map(
    (v) =>
      `<attrValues>${xmlElement('name', v.name)}<value>${xmlElement('string', v.value)}</value>` +
      `<timestamp>${formatDateTime(new Date(v.timestamp))}</timestamp><origin>${v.origin}</origin></attrValues>`,
  );
  return reply(shape, 'GetJobAttributesResponse', items.join(''));
}

/** strerror() texts for the errno values the service uses. */
export const STRERROR: Readonly<Record<number, string>> = {
  1: 'Operation not permitted',
  2: 'No such file or directory',
  5: 'Input/output error',
  11: 'Resource temporarily unavailable',
  13: 'Permission denied',
  17: 'File exists',
  22: 'Invalid argument',
  28: 'No space left on device',
  110: 'Connection timed out',
};

/** A genericFault link like the service's glite_jp_error_t → SOAP conversion. */
export function jpError(code: number, source: string, description: string, reason?: GenericFault): GenericFault {
  return { source, code, text: STRERROR[code] ?? `Unknown error ${code}`, description, reason };
}

/** A Server fault whose detail holds the genericFault chain. */
export function serverFault(f: GenericFault, shape: ReplyShape = 'compact'): string {
  return fault(shape, 'SOAP-ENV:Server', f.description ?? f.text ?? 'error', f);
}

/** A Client fault for requests that cannot be understood. */
export function clientFault(problem: string, shape: ReplyShape = 'compact'): string {
  return fault(shape, 'SOAP-ENV:Client', problem, jpError(22, 'soap request', problem));
}
