/**
 * How `show` presents a message body (pure): text when it is valid UTF-8
 * without control characters (other than tab, CR, LF), otherwise the size
 * and a hex dump of the first 512 bytes.
 */
export const HEX_BYTES = 512;

export interface BodyView {
  /** Size of the file in bytes. */
  readonly size: number;
  readonly kind: 'text' | 'binary';
  /** Bytes of the body represented by `text` or `hex`. */
  readonly shownBytes: number;
  /** true when the body is longer than what is shown. */
  readonly truncated: boolean;
  /** The body (or its first `shownBytes` bytes), for kind text. */
  readonly text?: string;
  /** Lower-case hex of the first bytes (at most 512), for kind binary. */
  readonly hex?: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/**
 * The text of `bytes` when it is valid UTF-8 without control characters;
 * `partial` allows an incomplete character at the end (a cut prefix).
 */
export function asText(bytes: Uint8Array, partial: boolean): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes, { stream: partial });
  } catch {
    return undefined;
  }
  return CONTROL.test(text) ? undefined : text;
}

/**
 * View of a body given its first bytes (`head`, at most `limit` of them
 * are shown) and the file size.
 */
export function viewBody(head: Uint8Array, size: number, limit: number): BodyView {
  const shown = head.subarray(0, Math.min(head.length, limit));
  const cut = shown.length < size;
  const text = asText(shown, cut);
  if (text !== undefined) {
    return { size, kind: 'text', shownBytes: Buffer.byteLength(text), truncated: cut, text };
  }
  const hexPart = head.subarray(0, Math.min(head.length, HEX_BYTES));
  return { size, kind: 'binary', shownBytes: hexPart.length, truncated: hexPart.length < size, hex: Buffer.from(hexPart).toString('hex') };
}

/** Classic hex dump: offset, 16 bytes in hex, the printable ASCII beside. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const chunk = bytes.subarray(off, off + 16);
    const hex = [...chunk].map((b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = [...chunk].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`);
  }
  return lines.join('\n');
}
