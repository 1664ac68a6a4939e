/**
 * Which spool subtrees the operator tools look at, and the validation of
 * message ids given on the command line (pure).
 */
import { isMessageEntry, parseNameTime } from '../queue/names.js';
import type { SpoolRef } from '../queue/spools.js';

/** One maildir subtree: its short name (reg, dump, …) and root directory. */
export type OpsSubtree = SpoolRef;

/** reg, dump, sandbox, and jobman when a jobman maildir is configured (../queue/spools.ts). */
export { spoolsOf as subtreesOf, type SpoolDirsOptions } from '../queue/spools.js';

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
  if (!isMessageEntry(id)) {
    return id.startsWith('.') ? "starts with '.' (hidden files are not messages)" : "ends with '.meta' (that is a retry-state sidecar; give the message name)";
  }
  if (Buffer.byteLength(id) > 255) return 'longer than 255 bytes';
  return undefined;
}

/** Creation time (ms) encoded in an LB-style message name, if any. */
export function nameTimeMs(name: string): number | undefined {
  const t = parseNameTime(name);
  return t === undefined ? undefined : t.sec * 1000 + Math.floor(t.usec / 1000);
}
