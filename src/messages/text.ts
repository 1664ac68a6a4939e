import { JpError } from '../core/errors.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decode strict UTF-8, or throw a malformed-message error naming the problem. */
export function decodeUtf8(body: Uint8Array, what: string): string {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    throw new JpError('JP_MALFORMED_MESSAGE', `${what} is not valid UTF-8`);
  }
  if (text.includes('\0')) throw new JpError('JP_MALFORMED_MESSAGE', `${what} contains a NUL byte`);
  return text;
}

/** true if the string holds control characters other than tab. */
export function hasControlChars(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000a-\u001f\u007f]/.test(s);
}
