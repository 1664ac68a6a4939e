/**
 * Which spool subtrees the operator tools look at, and the validation of
 * message ids given on the command line (pure).
 */
import { parseNameTime } from '../maildir/names.js';

/** One maildir subtree: its short name (reg, dump, …) and root directory. */
export interface OpsSubtree {
  readonly name: string;
  readonly root: string;
}

/** The daemon's spool directories (ImporterOptions fields). */
export interface SpoolDirsOptions {
  readonly regMdir: string;
  readonly dumpMdir: string;
  readonly sandboxMdir: string;
  readonly jobmanMdir?: string | undefined;
}

/** reg, dump, sandbox, and jobman when a jobman maildir is configured. */
export function subtreesOf(o: SpoolDirsOptions): OpsSubtree[] {
  const list: OpsSubtree[] = [
    { name: 'reg', root: o.regMdir },
    { name: 'dump', root: o.dumpMdir },
    { name: 'sandbox', root: o.sandboxMdir },
  ];
  if (o.jobmanMdir !== undefined) list.push({ name: 'jobman', root: o.jobmanMdir });
  return list;
}

/**
 * Why `id` cannot name a message file (so it is refused before any file
 * system access), or undefined when it is acceptable. A claimed name
 * (`<name>:<pid>@<host>`) is acceptable.
 */
export function badId(id: string): string | undefined {
  if (id.length === 0) return 'empty';
  if (id.includes('/')) return "contains '/' (give the message name, not a path)";
  if (id.includes('\0')) return 'contains a NUL byte';
  if (id.includes('..')) return "contains '..'";
  if (id.startsWith('.')) return "starts with '.' (hidden files are not messages)";
  if (id.endsWith('.meta')) return "ends with '.meta' (that is a retry-state sidecar; give the message name)";
  if (Buffer.byteLength(id) > 255) return 'longer than 255 bytes';
  return undefined;
}

/** Creation time (ms) encoded in an LB-style message name, if any. */
export function nameTimeMs(name: string): number | undefined {
  const t = parseNameTime(name);
  return t === undefined ? undefined : t.sec * 1000 + Math.floor(t.usec / 1000);
}
