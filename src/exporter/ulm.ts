/**
 * Pure, byte-level parser for one ULM event line of an LB dump
 * (docs/exporter.md "The input"). It works on raw bytes because dump lines
 * may hold invalid UTF-8 that must be copied unchanged; only the DG.JOBID
 * value is decoded. Fields are walked one by one so that `DG.JOBID=` text inside
 * another quoted value (a JDL mentioning a job id) never counts.
 *
 * Grammar: fields `NAME=VALUE` separated by spaces/tabs, leading blanks
 * ignored; NAME is letters, digits, `.`, `_`, `-`; VALUE is bare (no blanks,
 * no `"`, no `\`) or quoted with `"` where `\` escapes the next byte; after a
 * closing quote only a blank or the end of the line may follow. One trailing
 * CR (CRLF input) is ignored. Blank-only lines are "empty".
 */

const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const EQUALS = 0x3d;
const CR = 0x0d;

/** Default limit for one line; longer lines are bad lines. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

/** `DG.JOBID` as bytes. */
const JOBID_NAME = Buffer.from('DG.JOBID', 'latin1');

export type UlmLine =
  | { readonly kind: 'empty' }
  | { readonly kind: 'event'; readonly jobid: string }
  | { readonly kind: 'bad'; readonly reason: string };

export interface UlmParseOptions {
  /** Lines longer than this (bytes, CR included) are bad. */
  readonly maxLineBytes?: number;
}

/**
 * Called for each field: name is [nameStart, nameEnd), the value is
 * [valueStart, valueEnd) without its quotes (still escaped when quoted).
 */
export type FieldVisitor = (nameStart: number, nameEnd: number, valueStart: number, valueEnd: number, quoted: boolean) => void;

const NAME_CHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  NAME_CHAR[c] = /[A-Za-z0-9._-]/.test(ch) ? 1 : 0;
}

function isBlank(c: number | undefined): boolean {
  return c === SPACE || c === TAB;
}

function showByte(c: number): string {
  return c >= 0x21 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

function nameText(b: Uint8Array, s: number, e: number): string {
  const t = Buffer.from(b.buffer, b.byteOffset + s, Math.min(e - s, 40)).toString('latin1');
  return JSON.stringify(e - s > 40 ? `${t}…` : t);
}

/** Length of the line without one trailing CR. */
export function contentEnd(b: Uint8Array): number {
  return b.length > 0 && b[b.length - 1] === CR ? b.length - 1 : b.length;
}

/**
 * Walk the fields of a line (no trailing newline). Returns undefined when the
 * line is well formed, else the reason (the position is a 1-based byte column).
 */
export function walkUlmFields(line: Uint8Array, visit: FieldVisitor): string | undefined {
  return walk(asBuffer(line), visit);
}

function asBuffer(line: Uint8Array): Buffer {
  return Buffer.isBuffer(line) ? line : Buffer.from(line.buffer, line.byteOffset, line.length);
}

// Where walk() records the DG.JOBID field when called without a visitor
// (the hot path: no closure and no object per field).
let jobStart = -1;
let jobEnd = -1;
let jobQuoted = false;
let jobCount = 0;
let fieldCount = 0;

function record(b: Buffer, ns: number, ne: number, vs: number, ve: number, q: boolean): void {
  fieldCount++;
  if (!isJobidName(b, ns, ne)) return;
  jobCount++;
  jobStart = vs;
  jobEnd = ve;
  jobQuoted = q;
}

function walk(b: Buffer, visit: FieldVisitor | null): string | undefined {
  const n = contentEnd(b);
  // Positions of the next backslash / quote / tab at or after some point (-1: none left).
  let nextBs = -2;
  let nextQuote = -2;
  let nextTab = -2;
  let nextSpace = -2;
  let p = 0;
  for (;;) {
    while (p < n && isBlank(b[p])) p++;
    if (p >= n) return undefined;
    const nameStart = p;
    while (p < n && NAME_CHAR[b[p] as number] === 1) p++;
    if (p >= n || b[p] !== EQUALS) {
      if (p === nameStart) return `unexpected ${showByte(b[p] as number)} at column ${p + 1} where a field name should start`;
      if (p >= n || isBlank(b[p])) return `field ${nameText(b, nameStart, p)} has no '=' (column ${nameStart + 1})`;
      return `invalid ${showByte(b[p] as number)} in field name ${nameText(b, nameStart, p)} at column ${p + 1}`;
    }
    if (p === nameStart) return `empty field name before '=' at column ${p + 1}`;
    const nameEnd = p;
    p++;
    if (p >= n || isBlank(b[p])) return `field ${nameText(b, nameStart, nameEnd)} has no value after '=' (column ${p})`;
    let valueStart: number;
    let valueEnd: number;
    let quoted: boolean;
    if (b[p] === QUOTE) {
      p++;
      valueStart = p;
      for (;;) {
        if (nextQuote !== -1 && nextQuote < p) nextQuote = b.indexOf(QUOTE, p);
        if (nextBs !== -1 && nextBs < p) nextBs = b.indexOf(BACKSLASH, p);
        if (nextQuote === -1 || nextQuote >= n) {
          return `unterminated quoted value of field ${nameText(b, nameStart, nameEnd)} (opened at column ${valueStart})`;
        }
        if (nextBs !== -1 && nextBs < nextQuote) {
          p = nextBs + 2;
          continue;
        }
        break;
      }
      valueEnd = nextQuote;
      quoted = true;
      p = valueEnd + 1;
      if (p < n && !isBlank(b[p])) {
        return `${showByte(b[p] as number)} after the closing quote of field ${nameText(b, nameStart, nameEnd)} at column ${p + 1}`;
      }
    } else {
      valueStart = p;
      // cached like nextTab: recomputed only when passed (linear in the line length)
      if (nextSpace !== -1 && nextSpace < p) nextSpace = b.indexOf(SPACE, p);
      let sp = nextSpace;
      if (sp === -1 || sp > n) sp = n;
      if (nextTab !== -1 && nextTab < p) nextTab = b.indexOf(TAB, p);
      valueEnd = nextTab !== -1 && nextTab < sp ? nextTab : sp;
      quoted = false;
      if (nextBs !== -1 && nextBs < p) nextBs = b.indexOf(BACKSLASH, p);
      if (nextBs !== -1 && nextBs < valueEnd) {
        return `backslash outside quotes in field ${nameText(b, nameStart, nameEnd)} at column ${nextBs + 1}`;
      }
      if (nextQuote !== -1 && nextQuote < p) nextQuote = b.indexOf(QUOTE, p);
      if (nextQuote !== -1 && nextQuote < valueEnd) {
        return `quote inside the unquoted value of field ${nameText(b, nameStart, nameEnd)} at column ${nextQuote + 1}`;
      }
      p = valueEnd;
    }
    if (visit === null) record(b, nameStart, nameEnd, valueStart, valueEnd, quoted);
    else visit(nameStart, nameEnd, valueStart, valueEnd, quoted);
  }
}

/** Undo ULM quoting: `\n` → newline, any other `\X` → X. */
export function unescapeUlm(b: Uint8Array): Uint8Array {
  if (b.indexOf(BACKSLASH) === -1) return b;
  const out = new Uint8Array(b.length);
  let o = 0;
  for (let i = 0; i < b.length; i++) {
    let c = b[i] as number;
    if (c === BACKSLASH && i + 1 < b.length) {
      i++;
      c = b[i] as number;
      if (c === 0x6e) c = 0x0a;
    }
    out[o++] = c;
  }
  return out.subarray(0, o);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeValue(b: Buffer, s: number, e: number, quoted: boolean): string | undefined {
  let ascii = true;
  for (let i = s; i < e; i++) {
    const c = b[i] as number;
    if (c >= 0x80 || c === BACKSLASH) {
      ascii = false;
      break;
    }
  }
  if (ascii) return b.toString('latin1', s, e);
  const raw = b.subarray(s, e);
  try {
    return utf8.decode(quoted ? unescapeUlm(raw) : raw);
  } catch {
    return undefined;
  }
}

function isJobidName(b: Buffer, s: number, e: number): boolean {
  if (e - s !== JOBID_NAME.length) return false;
  for (let i = 0; i < JOBID_NAME.length; i++) if (b[s + i] !== JOBID_NAME[i]) return false;
  return true;
}

/**
 * Parse one line (without its newline): an empty line, an event with its job
 * id (decoded, not yet validated as a job URL), or a bad line with a reason.
 */
export function parseUlmLine(line: Uint8Array, opts: UlmParseOptions = {}): UlmLine {
  const b = asBuffer(line);
  const max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  if (b.length > max) return { kind: 'bad', reason: `line is ${b.length} bytes, longer than the limit of ${max}` };
  jobStart = -1;
  jobEnd = -1;
  jobQuoted = false;
  jobCount = 0;
  fieldCount = 0;
  const err = walk(b, null);
  if (err !== undefined) return { kind: 'bad', reason: err };
  if (fieldCount === 0) return { kind: 'empty' };
  if (jobCount > 1) return { kind: 'bad', reason: 'field DG.JOBID appears more than once' };
  if (jobCount === 0) return { kind: 'bad', reason: 'no DG.JOBID field' };
  const jobid = decodeValue(b, jobStart, jobEnd, jobQuoted);
  if (jobid === undefined) return { kind: 'bad', reason: 'the DG.JOBID value is not valid UTF-8' };
  if (jobid.length === 0) return { kind: 'bad', reason: 'the DG.JOBID value is empty' };
  return { kind: 'event', jobid };
}

/** Every field of a line decoded (names latin1, values unescaped UTF-8, lossy); for tests and tools. */
export function ulmFields(line: Uint8Array): { fields: { name: string; value: string }[] } | { error: string } {
  const b = asBuffer(line);
  const fields: { name: string; value: string }[] = [];
  const err = walk(b, (ns, ne, vs, ve, q) => {
    const raw = b.subarray(vs, ve);
    fields.push({ name: b.toString('latin1', ns, ne), value: Buffer.from(q ? unescapeUlm(raw) : raw).toString('utf8') });
  });
  return err === undefined ? { fields } : { error: err };
}
