/**
 * Key/value messages for dump and sandbox uploads (docs/spool-protocol.md "Message formats"):
 * per line, leading blanks skipped, the key up to the first blank, blanks,
 * the value is the rest of the line. Known keys: jobid, file, jpps, proxy;
 * unknown keys ignored. Recognises the C dump exporter's glued
 * `file   /path/dumpjpps   host:port` line.
 */
import { JpError } from '../core/errors.js';
import { jobUnique } from './jobid.js';
import { decodeUtf8, hasControlChars } from './text.js';

export interface UploadMessage {
  readonly jobid: string;
  readonly file: string;
  readonly jpps?: string;
  readonly proxy?: string;
}

export type KeyValues = Partial<Record<'jobid' | 'file' | 'jpps' | 'proxy', string>>;

export const MAX_KEYVALUE_BYTES = 64 * 1024;
const KNOWN = new Set(['jobid', 'file', 'jpps', 'proxy']);
const GLUED_JPPS = /^(.*?)jpps[ \t]+([^ \t]+)$/;

/** Parse the lines; throws on a key without a value. */
export function parseKeyValues(body: Uint8Array): KeyValues {
  if (body.length > MAX_KEYVALUE_BYTES) {
    throw new JpError('JP_MALFORMED_MESSAGE', `message is ${body.length} bytes (limit ${MAX_KEYVALUE_BYTES})`);
  }
  const text = decodeUtf8(body, 'message');
  const out: KeyValues = {};
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = (raw.endsWith('\r') ? raw.slice(0, -1) : raw).replace(/^[ \t]+/, '');
    if (line.length === 0) continue;
    const m = /^([^ \t]+)(?:[ \t]+(.*))?$/.exec(line);
    const key = m?.[1] ?? '';
    const value = trimEndBlanks(m?.[2] ?? '');
    if (value.length === 0) throw new JpError('JP_MALFORMED_MESSAGE', `line ${lineNo}: key ${JSON.stringify(key)} has no value`);
    if (!KNOWN.has(key)) continue;
    if (key === 'file') {
      const glued = GLUED_JPPS.exec(value);
      if (glued !== null && glued[1] !== undefined && trimEndBlanks(glued[1]).length > 0 && looksLikeHostPort(glued[2] ?? '')) {
        out.file = trimEndBlanks(glued[1]);
        out.jpps = glued[2] as string;
        continue;
      }
    }
    out[key as keyof KeyValues] = value;
  }
  return out;
}

/** Trailing blanks removed by a loop (a regex would backtrack quadratically over inner runs of blanks). */
function trimEndBlanks(s: string): string {
  let e = s.length;
  while (e > 0 && (s.charCodeAt(e - 1) === 0x20 || s.charCodeAt(e - 1) === 0x09)) e--;
  return e === s.length ? s : s.slice(0, e);
}

function looksLikeHostPort(s: string): boolean {
  return /^(?:https?:\/\/)?[A-Za-z0-9.[\]:-]+:\d{1,5}\/?$/.test(s);
}

/** Parse and require jobid and file (an absolute path). */
export function parseUploadMessage(body: Uint8Array): UploadMessage {
  const kv = parseKeyValues(body);
  if (kv.jobid === undefined) throw new JpError('JP_MALFORMED_MESSAGE', 'message has no jobid line');
  if (kv.file === undefined) throw new JpError('JP_MALFORMED_MESSAGE', 'message has no file line');
  jobUnique(kv.jobid);
  if (!kv.file.startsWith('/')) throw new JpError('JP_MALFORMED_MESSAGE', `file ${JSON.stringify(kv.file)} is not an absolute path`);
  if (hasControlChars(kv.file)) throw new JpError('JP_MALFORMED_MESSAGE', 'file path contains control characters');
  return {
    jobid: kv.jobid,
    file: kv.file,
    ...(kv.jpps !== undefined ? { jpps: kv.jpps } : {}),
    ...(kv.proxy !== undefined ? { proxy: kv.proxy } : {}),
  };
}

/**
 * Every key on its own line, tab separated (readable by the C parser). Only
 * a message that parseUploadMessage reads back unchanged is written: a
 * producer never spools a message the importer would give up.
 */
export function formatUploadMessage(m: UploadMessage): string {
  const text = formatLines(m);
  let back: UploadMessage;
  try {
    back = parseUploadMessage(Buffer.from(text));
  } catch (e) {
    throw new JpError('JP_MALFORMED_MESSAGE', `cannot write this upload message: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (back.jobid !== m.jobid || back.file !== m.file || back.jpps !== m.jpps || back.proxy !== m.proxy) {
    throw new JpError('JP_MALFORMED_MESSAGE', `cannot write this upload message: file ${JSON.stringify(m.file)} would be read back differently (it looks like the C exporter's glued "jpps" line)`);
  }
  return text;
}

function formatLines(m: UploadMessage): string {
  const lines: [string, string | undefined][] = [['jobid', m.jobid], ['file', m.file], ['proxy', m.proxy], ['jpps', m.jpps]];
  for (const [k, v] of lines) {
    if (v !== undefined && (v.length === 0 || /[\r\n]/.test(v) || v !== v.trim())) {
      throw new JpError('JP_MALFORMED_MESSAGE', `value of ${k} must be non-empty, on one line, without surrounding blanks`);
    }
  }
  return uploadMessageText(m);
}

/**
 * The text of an upload message (`jobid`, `file`, then `proxy` and `jpps`
 * when given, each `key<TAB>value` on its own line) without any check: what
 * formatUploadMessage writes once its checks passed. Only for values
 * already known to pass them (the exporter's, see
 * ../exporter/announce-store.ts checkedJobMessage).
 */
export function uploadMessageText(m: UploadMessage): string {
  let out = `jobid\t${m.jobid}\nfile\t${m.file}\n`;
  if (m.proxy !== undefined) out += `proxy\t${m.proxy}\n`;
  if (m.jpps !== undefined) out += `jpps\t${m.jpps}\n`;
  return out;
}
