/**
 * Registration messages as the LB server writes them: `<jobid>\n<owner DN>`,
 * two lines, normally without a trailing newline.
 */
import { JpError } from '../core/errors.js';
import { jobUnique } from './jobid.js';
import { decodeUtf8, hasControlChars } from './text.js';

export interface Registration {
  readonly jobid: string;
  readonly owner: string;
}

export const MAX_REGISTRATION_BYTES = 64 * 1024;

export function parseRegistration(body: Uint8Array): Registration {
  if (body.length === 0) throw new JpError('JP_MALFORMED_MESSAGE', 'registration message is empty');
  if (body.length > MAX_REGISTRATION_BYTES) {
    throw new JpError('JP_MALFORMED_MESSAGE', `registration message is ${body.length} bytes (limit ${MAX_REGISTRATION_BYTES})`);
  }
  const text = decodeUtf8(body, 'registration message');
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (lines.length > 2 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length < 2) throw new JpError('JP_MALFORMED_MESSAGE', 'registration message has one line; expected "<jobid>\\n<owner>"');
  if (lines.length > 2) throw new JpError('JP_MALFORMED_MESSAGE', `registration message has ${lines.length} lines; expected 2`);
  const jobid = (lines[0] as string).trim();
  const owner = (lines[1] as string).trim();
  jobUnique(jobid);
  if (owner.length === 0) throw new JpError('JP_MALFORMED_MESSAGE', 'registration message has an empty owner');
  if (hasControlChars(owner)) throw new JpError('JP_MALFORMED_MESSAGE', 'owner contains control characters');
  return { jobid, owner };
}

/** The body the LB server writes (used by tests, the demo and benchmarks). */
export function formatRegistration(r: Registration): string {
  return `${r.jobid}\n${r.owner}`;
}
