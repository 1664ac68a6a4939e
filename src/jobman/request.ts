/**
 * Validation of a jobman request body (pure):
 *   [ { "sql": "<script name>", "rows": [ { "<NAME>": value, … }, … ] }, … ]
 * Values are strings, finite numbers (integers within ±2^53), booleans or
 * null. Script names are single file names (no '/', '\', '..', NUL, no
 * leading '.'); the script's existence is checked by the ScriptCache.
 * Anything else throws JpError JP_BAD_REQUEST (permanent) with the JSON path.
 */
import { JpError } from '../core/errors.js';

export type Bindable = string | number | boolean | null;
export type RequestRow = Readonly<Record<string, Bindable>>;

export interface RequestStep {
  /** Index in the request array (the `seq` of the result store). */
  readonly seq: number;
  readonly sql: string;
  readonly rows: readonly RequestRow[];
}

export const REQUEST_SUFFIX = '.req';
/** Bind-variable names: what `:NAME` in a script can refer to. */
export const PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_$#]{0,127}$/;
const MAX_SCRIPT_NAME = 200;

/** The request's uid: a jobman file name without `.req`; a maildir name as is. */
export function requestUid(name: string): string {
  return name.endsWith(REQUEST_SUFFIX) && name.length > REQUEST_SUFFIX.length ? name.slice(0, -REQUEST_SUFFIX.length) : name;
}

/** Why `name` cannot name a script, or undefined when it is acceptable. */
export function badScriptName(name: string): string | undefined {
  if (name === '') return 'empty script name';
  if (name.includes('/') || name.includes('\\')) return 'script name contains a path separator';
  if (name.includes('..')) return "script name contains '..'";
  if (name.includes('\0')) return 'script name contains NUL';
  if (name.startsWith('.')) return "script name starts with '.'";
  if (/[\x00-\x1f\x7f]/.test(name)) return 'script name contains a control character';
  if (Buffer.byteLength(name) > MAX_SCRIPT_NAME) return `script name longer than ${MAX_SCRIPT_NAME} bytes`;
  return undefined;
}

function bad(path: string, why: string): never {
  throw new JpError('JP_BAD_REQUEST', `bad jobman request: ${path}: ${why}`, { temporary: false });
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseRequest(body: Buffer | string): RequestStep[] {
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      bad('body', 'not valid UTF-8');
    }
  }
  text = text.replace(/^\uFEFF/, '');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    bad('body', `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!Array.isArray(doc)) bad('body', `must be a JSON array of steps, found ${typeName(doc)}`);
  return doc.map((step: unknown, seq) => parseStep(step, seq));
}

function parseStep(step: unknown, seq: number): RequestStep {
  const at = `[${seq}]`;
  if (!isPlainObject(step)) bad(at, `a step must be an object {"sql": …, "rows": […]}, found ${typeName(step)}`);
  for (const k of Object.keys(step)) {
    if (k !== 'sql' && k !== 'rows') bad(`${at}.${JSON.stringify(k)}`, 'unknown key (a step has only "sql" and "rows")');
  }
  if (!('sql' in step)) bad(`${at}.sql`, 'missing (a step needs "sql" naming a script)');
  if (!('rows' in step)) bad(`${at}.rows`, 'missing (a step needs "rows", an array of row objects)');
  const sql = step['sql'];
  if (typeof sql !== 'string') bad(`${at}.sql`, `must be a string naming a script, found ${typeName(sql)}`);
  const why = badScriptName(sql);
  if (why !== undefined) bad(`${at}.sql`, `${JSON.stringify(sql)}: ${why}`);
  const rows = step['rows'];
  if (!Array.isArray(rows)) bad(`${at}.rows`, `must be an array of row objects, found ${typeName(rows)}`);
  return { seq, sql, rows: rows.map((r: unknown, i) => parseRow(r, `${at}.rows[${i}]`)) };
}

function parseRow(row: unknown, at: string): RequestRow {
  if (!isPlainObject(row)) bad(at, `a row must be an object of bind values, found ${typeName(row)}`);
  const out: Record<string, Bindable> = {};
  const seen = new Map<string, string>();
  for (const [k, v] of Object.entries(row)) {
    if (k === '__proto__') bad(`${at}.${k}`, 'reserved key name');
    if (!PARAM_NAME_RE.test(k)) bad(`${at}.${k}`, 'key is not a valid bind-variable name (letters, digits, _ $ #, not starting with a digit)');
    const lower = k.toLowerCase();
    const other = seen.get(lower);
    if (other !== undefined) bad(`${at}.${k}`, `differs from key ${other} only in letter case`);
    seen.set(lower, k);
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) bad(`${at}.${k}`, 'number out of range');
      if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
        bad(`${at}.${k}`, 'integer beyond ±2^53 would lose precision; send it as a string');
      }
    } else if (v !== null && typeof v !== 'string' && typeof v !== 'boolean') {
      bad(`${at}.${k}`, `values must be strings, numbers, booleans or null, found ${typeName(v)}`);
    }
    out[k] = v as Bindable;
  }
  return out;
}
