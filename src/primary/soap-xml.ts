/**
 * Generic SOAP 1.1 plumbing shared by the client codec (./soap.ts) and the
 * reference service (src/primary-dev): XML escaping, envelope framing,
 * tolerant envelope parsing and fault extraction. Pure functions only.
 */
import { createRequire } from 'node:module';
import type * as Fxp from 'fast-xml-parser';
import { JpError } from '../core/errors.js';

export const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const JP_ELEM_NS = 'http://glite.org/wsdl/elements/jp';

/** A parsed XML node: text, or an object of children (repeated → array). */
export type XmlNode = string | XmlObject;
export interface XmlObject {
  [name: string]: XmlNode | XmlNode[] | undefined;
}

/** The errno-style error the JP services put into a fault's detail. */
export interface GenericFault {
  readonly source: string | undefined;
  readonly code: number | undefined;
  readonly text: string | undefined;
  readonly description: string | undefined;
  readonly reason: GenericFault | undefined;
}

export interface SoapFault {
  /** e.g. `SOAP-ENV:Server` (as on the wire, prefix kept). */
  readonly faultcode: string;
  readonly faultstring: string;
  readonly detail: GenericFault | undefined;
}

export type ParsedEnvelope =
  | { readonly kind: 'body'; readonly element: string; readonly content: XmlNode }
  | { readonly kind: 'fault'; readonly fault: SoapFault };

// ---------------------------------------------------------------- writing

// XML 1.0 Char production, minus the characters we escape anyway.
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u;

/**
 * Escape a text value for element content. Characters that XML 1.0 cannot
 * carry at all make the value unsendable: JP_MALFORMED_MESSAGE naming `what`.
 */
export function xmlEscape(value: string, what = 'value'): string {
  const bad = NOT_XML_CHAR.exec(value);
  if (bad !== null) {
    const cp = bad[0].codePointAt(0) ?? 0;
    throw new JpError(
      'JP_MALFORMED_MESSAGE',
      `${what} contains a character XML cannot carry (U+${cp.toString(16).toUpperCase().padStart(4, '0')} at offset ${bad.index})`,
    );
  }
  return value.replace(/[&<>"'\r]/g, (c) => ESCAPES[c] ?? c);
}
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' };

/** `<name>escaped</name>` for an unqualified child element. */
export function xmlElement(name: string, value: string): string {
  return `<${name}>${xmlEscape(value, `<${name}>`)}</${name}>`;
}

/** xsd:dateTime in UTC without fractional seconds (what gSOAP writes). */
export function formatDateTime(d: Date): string {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw new JpError('JP_MALFORMED_MESSAGE', 'time value is not a valid date');
  return new Date(Math.floor(t / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

const XSD_DATETIME = /^(-?\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$/;

/** Parse xsd:dateTime; no zone means UTC. Returns undefined when invalid. */
export function parseDateTime(s: string): Date | undefined {
  const m = XSD_DATETIME.exec(s.trim());
  if (m === null) return undefined;
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}${m[8] ?? 'Z'}`;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t) : undefined;
}

const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP_ENV_NS}" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/"` +
  ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"' +
  ` xmlns:jpe="${JP_ELEM_NS}"><SOAP-ENV:Body>`;
const ENVELOPE_CLOSE = '</SOAP-ENV:Body></SOAP-ENV:Envelope>';

/** Wrap already-escaped children in `<jpe:element>` inside a SOAP envelope. */
export function envelope(element: string, children: string): string {
  return children === ''
    ? `${ENVELOPE_OPEN}<jpe:${element}/>${ENVELOPE_CLOSE}`
    : `${ENVELOPE_OPEN}<jpe:${element}>${children}</jpe:${element}>${ENVELOPE_CLOSE}`;
}

function genericFaultXml(f: GenericFault, element: string, depth: number): string {
  if (depth > 16) return '';
  let s = `<${element}>`;
  if (f.source !== undefined) s += xmlElement('source', f.source);
  if (f.code !== undefined) s += `<code>${f.code}</code>`;
  if (f.text !== undefined) s += xmlElement('text', f.text);
  if (f.description !== undefined) s += xmlElement('description', f.description);
  if (f.reason !== undefined) s += genericFaultXml(f.reason, 'reason', depth + 1);
  return `${s}</${element}>`;
}

/** A SOAP 1.1 fault as gSOAP writes it, with an optional genericFault detail. */
export function faultEnvelope(faultcode: string, faultstring: string, detail?: GenericFault): string {
  const d = detail === undefined ? '' : `<detail>${genericFaultXml(detail, 'jpe:genericFault', 0)}</detail>`;
  return (
    `${ENVELOPE_OPEN}<SOAP-ENV:Fault><faultcode>${xmlEscape(faultcode)}</faultcode>` +
    `<faultstring>${xmlEscape(faultstring)}</faultstring>${d}</SOAP-ENV:Fault>${ENVELOPE_CLOSE}`
  );
}

// ---------------------------------------------------------------- reading

const PARSER_OPTIONS: Fxp.X2jOptions = {
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  // Text is kept exactly (xsd:string values such as attribute values must
  // round-trip); whitespace that only lays out child elements is dropped by
  // textOf, and fields that are not free text (fault texts, times, codes)
  // are trimmed where they are read.
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Needed for numeric character references (&#233;); HTML named entities
  // are decoded too, which is harmless here.
  htmlEntities: true,
};

/**
 * fast-xml-parser, loaded on the first full parse: a registration worker
 * whose replies all take the canonical fast path (soap.ts) never needs it,
 * which spares every worker start about 25 ms of CPU and its memory.
 */
let fxp: { readonly parser: Fxp.XMLParser; readonly validator: typeof Fxp.XMLValidator } | undefined;
function xmlLibrary(): NonNullable<typeof fxp> {
  if (fxp === undefined) {
    const lib = createRequire(import.meta.url)('fast-xml-parser') as typeof Fxp;
    fxp = { parser: new lib.XMLParser(PARSER_OPTIONS), validator: lib.XMLValidator };
  }
  return fxp;
}

/** Thrown by parseEnvelope; callers turn it into JP_BAD_REPLY etc. */
export class EnvelopeError extends Error {}

/** A short, single-line, printable excerpt of a reply for error messages. */
export function excerpt(body: string, max = 120): string {
  // eslint-disable-next-line no-control-regex
  const flat = body.replace(/\s+/g, ' ').replace(/[\u0000-\u001F\u007F]/g, '?').trim();
  if (flat === '') return '(empty body)';
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}

export function isObject(n: unknown): n is XmlObject {
  return typeof n === 'object' && n !== null && !Array.isArray(n);
}

/**
 * The text of a node, exactly as sent: a string, or an element's `#text`
 * (attributes ignored). In an element that has child elements, text made
 * only of whitespace is layout (pretty printing), not content.
 */
export function textOf(n: unknown): string | undefined {
  if (typeof n === 'string') return n;
  if (isObject(n)) {
    const t = n['#text'];
    const leaf = Object.keys(n).every((k) => k === '#text' || k.startsWith('@_'));
    if (typeof t === 'string') return leaf || t.trim() !== '' ? t : undefined;
    if (leaf) return '';
  }
  return undefined;
}

/** Child(ren) of a node by local name, always as an array. */
export function children(n: unknown, name: string): XmlNode[] {
  if (!isObject(n)) return [];
  const c = n[name];
  if (c === undefined) return [];
  return Array.isArray(c) ? c : [c];
}

/** The first child text by local name. */
export function childText(n: unknown, name: string): string | undefined {
  const c = children(n, name)[0];
  return c === undefined ? undefined : textOf(c);
}

/** Element names of an object node (no attributes, no text). */
export function elementNames(n: XmlObject): string[] {
  return Object.keys(n).filter((k) => !k.startsWith('@_') && k !== '#text');
}

/**
 * Parse a SOAP envelope: either the first element inside Body, or a Fault.
 * Tolerant of namespace prefixes (any), SOAP 1.2 faults and of where the
 * genericFault sits inside the detail. Throws EnvelopeError on anything that
 * is not a well-formed SOAP envelope.
 */
export function parseEnvelope(text: string): ParsedEnvelope {
  const xml = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (xml.trim() === '') throw new EnvelopeError('empty body');
  const { parser, validator } = xmlLibrary();
  const valid = validator.validate(xml);
  if (valid !== true) throw new EnvelopeError(`not well-formed XML (${valid.err.msg} at line ${valid.err.line})`);
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (e) {
    throw new EnvelopeError(`not parsable XML (${e instanceof Error ? e.message : String(e)})`);
  }
  const env = children(doc, 'Envelope');
  if (env.length !== 1) throw new EnvelopeError('no SOAP Envelope element');
  const bodies = children(env[0], 'Body');
  const body = bodies[0];
  if (bodies.length !== 1 || body === undefined) throw new EnvelopeError('no (or more than one) SOAP Body element');
  if (!isObject(body)) throw new EnvelopeError('SOAP Body is empty');
  const names = elementNames(body);
  const first = names[0];
  if (first === undefined) throw new EnvelopeError('SOAP Body is empty');
  if (first === 'Fault') return { kind: 'fault', fault: readFault(children(body, 'Fault')[0]) };
  const content = children(body, first)[0];
  return { kind: 'body', element: first, content: content ?? '' };
}

function readFault(f: XmlNode | undefined): SoapFault {
  // SOAP 1.1: faultcode/faultstring/detail; SOAP 1.2: Code/Value, Reason/Text, Detail.
  const code12 = childText(children(f, 'Code')[0], 'Value');
  const reason12 = childText(children(f, 'Reason')[0], 'Text');
  const faultcode = (childText(f, 'faultcode') ?? code12 ?? '').trim();
  const faultstring = (childText(f, 'faultstring') ?? reason12 ?? '').trim();
  const detailNode = children(f, 'detail')[0] ?? children(f, 'Detail')[0];
  return { faultcode, faultstring, detail: findGenericFault(detailNode) };
}

const FAULT_FIELDS = ['code', 'source', 'text', 'description'] as const;

function looksLikeGenericFault(n: XmlObject): boolean {
  return FAULT_FIELDS.some((k) => n[k] !== undefined);
}

/** Breadth-first search for the first element that carries genericFault fields. */
export function findGenericFault(detail: unknown): GenericFault | undefined {
  const LIMIT = 256;
  const queue: unknown[] = [detail];
  for (let i = 0; i < queue.length && i < LIMIT; i++) {
    const n = queue[i];
    if (!isObject(n)) continue;
    if (looksLikeGenericFault(n)) return readGenericFault(n, 0);
    // one at a time and bounded: a detail with 200k siblings must not overflow the stack
    for (const name of elementNames(n)) {
      for (const c of children(n, name)) {
        if (queue.length >= LIMIT) break;
        queue.push(c);
      }
    }
  }
  return undefined;
}

function readGenericFault(n: XmlObject, depth: number): GenericFault {
  const codeText = childText(n, 'code')?.trim();
  const code = codeText !== undefined && /^-?\d{1,9}$/.test(codeText) ? Number(codeText) : undefined;
  const reasonNode = children(n, 'reason')[0];
  let reason: GenericFault | undefined;
  if (depth < 16 && isObject(reasonNode)) {
    reason = looksLikeGenericFault(reasonNode) ? readGenericFault(reasonNode, depth + 1) : findGenericFault(reasonNode);
  } else if (typeof reasonNode === 'string' && reasonNode.trim() !== '') {
    reason = { source: undefined, code: undefined, text: reasonNode.trim(), description: undefined, reason: undefined };
  }
  return {
    source: trimmedText(n, 'source'),
    code,
    text: trimmedText(n, 'text'),
    description: trimmedText(n, 'description'),
    reason,
  };
}

/** Fault texts are messages for people: trimmed, blank means absent. */
function trimmedText(n: XmlObject, name: string): string | undefined {
  return childText(n, name)?.trim() || undefined;
}

/** The whole chain of a genericFault, one link per cause. */
export function faultChain(f: GenericFault | undefined): GenericFault[] {
  const out: GenericFault[] = [];
  for (let cur = f; cur !== undefined && out.length < 16; cur = cur.reason) out.push(cur);
  return out;
}

/** `17 File exists: Job already registered [source]` for one link. */
export function describeGenericFault(f: GenericFault): string {
  const head = [f.code !== undefined ? String(f.code) : undefined, f.text].filter((s) => s !== undefined).join(' ');
  let s = head;
  if (f.description !== undefined) s = s === '' ? f.description : `${s}: ${f.description}`;
  if (f.source !== undefined) s = `${s} [${f.source}]`;
  return s === '' ? '(empty genericFault)' : s;
}

/** One line describing a fault with its whole reason chain. */
export function describeFault(f: SoapFault): string {
  const links = faultChain(f.detail);
  const chain = links.map(describeGenericFault);
  // gSOAP services often repeat a description as the faultstring: say it once.
  const repeated = links.some((l) => l.description === f.faultstring || l.text === f.faultstring);
  const fs = f.faultstring !== '' && !repeated ? ` "${f.faultstring}"` : '';
  const head = `SOAP fault ${f.faultcode || '(no faultcode)'}${fs}`;
  if (chain.length === 0) return `${head} without detail`;
  return `${head}: ${chain.join(' <- reason: ')}`;
}
