/**
 * Extended block mode (`MODE E`, GridFTP v1, GFD.20) framing: pure, no I/O.
 *
 * Every block starts with a 17-byte header: one descriptor byte of flags,
 * a 64-bit byte count and a 64-bit offset, both big-endian unsigned. A data
 * block's count says how many bytes follow the header and its offset where
 * they go in the file (blocks may come in any order and over several
 * connections, which is why a cut MODE E upload can leave holes).
 *
 * Flags (Globus globus_ftp_control_data.c): 0x80 EOR, 0x40 EOF, 0x20
 * suspected errors, 0x10 restart marker, 0x08 EOD (no more data on this
 * connection for this transfer), 0x04 CLOSE (the sender closes this
 * connection). A block with EOF carries no payload and its *offset* field
 * holds the number of data connections that carry the transfer (the
 * receiver waits for that many EODs); its count is ignored. A transfer over
 * one connection therefore ends with one header: EOF|EOD, count 0,
 * offset 1. Without CLOSE the receiver caches the connection for the next
 * transfer (Globus' data channel caching: the next STOR is answered
 * `125 … reusing existing data connection`).
 */

export const EB_HEADER_SIZE = 17;

export const EB_EOR = 0x80;
export const EB_EOF = 0x40;
export const EB_ERRORS = 0x20;
export const EB_RESTART = 0x10;
export const EB_EOD = 0x08;
export const EB_CLOSE = 0x04;

/** Largest count or offset a header can carry here (JavaScript's safe integers; files are far smaller). */
const MAX_FIELD = BigInt(Number.MAX_SAFE_INTEGER);

export interface BlockHeader {
  readonly descriptor: number;
  readonly count: number;
  readonly offset: number;
}

function field(name: string, n: number): bigint {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`MODE E block ${name} ${n} is not a non-negative safe integer`);
  return BigInt(n);
}

/** The 17 header bytes of a block. */
export function encodeBlockHeader(h: BlockHeader): Buffer {
  if (!Number.isInteger(h.descriptor) || h.descriptor < 0 || h.descriptor > 0xff) throw new RangeError(`MODE E descriptor ${h.descriptor} is not a byte`);
  const b = Buffer.allocUnsafe(EB_HEADER_SIZE);
  b.writeUInt8(h.descriptor, 0);
  b.writeBigUInt64BE(field('count', h.count), 1);
  b.writeBigUInt64BE(field('offset', h.offset), 9);
  return b;
}

/** A header from its 17 bytes (at `at`); throws on a short buffer or a field beyond the safe integers. */
export function decodeBlockHeader(b: Buffer, at = 0): BlockHeader {
  if (b.length - at < EB_HEADER_SIZE) throw new RangeError(`a MODE E block header is ${EB_HEADER_SIZE} bytes, got ${Math.max(0, b.length - at)}`);
  const count = b.readBigUInt64BE(at + 1);
  const offset = b.readBigUInt64BE(at + 9);
  if (count > MAX_FIELD || offset > MAX_FIELD) throw new RangeError('a MODE E block header field is beyond 2^53');
  return { descriptor: b.readUInt8(at), count: Number(count), offset: Number(offset) };
}

/** The header of a data block of `count` bytes at file offset `offset`. */
export function dataBlockHeader(count: number, offset: number): Buffer {
  if (count === 0) throw new RangeError('a MODE E data block carries at least one byte');
  return encodeBlockHeader({ descriptor: 0, count, offset });
}

/** The end of a transfer sent over `connections` data connections, on the last of them (the connection stays open). */
export function eofHeader(connections = 1): Buffer {
  if (!Number.isSafeInteger(connections) || connections < 1) throw new RangeError(`MODE E EOF needs at least one connection, got ${connections}`);
  return encodeBlockHeader({ descriptor: EB_EOF | EB_EOD, count: 0, offset: connections });
}

/** The descriptor's flags by name (for messages and tests). */
export function describeDescriptor(d: number): string {
  const names: Array<[number, string]> = [
    [EB_EOR, 'EOR'], [EB_EOF, 'EOF'], [EB_ERRORS, 'ERRORS'], [EB_RESTART, 'RESTART'], [EB_EOD, 'EOD'], [EB_CLOSE, 'CLOSE'],
  ];
  const set = names.filter(([bit]) => (d & bit) !== 0).map(([, n]) => n);
  const unknown = d & ~names.reduce((a, [bit]) => a | bit, 0);
  if (unknown !== 0) set.push(`0x${unknown.toString(16).padStart(2, '0')}`);
  return set.length === 0 ? 'data' : set.join('|');
}

/**
 * What a receiver makes of a whole stream of blocks over one connection
 * (tests, and the sender's own check in tests): the file's bytes placed
 * at their offsets, and whether it ended with EOF/EOD. Throws on a block
 * cut short.
 */
export function reassemble(stream: Buffer): { data: Buffer; eof: boolean; eod: boolean; connections: number | undefined; rest: number } {
  const parts: Array<{ offset: number; bytes: Buffer }> = [];
  let at = 0;
  let eof = false;
  let eod = false;
  let connections: number | undefined;
  while (at + EB_HEADER_SIZE <= stream.length && !eod) {
    const h = decodeBlockHeader(stream, at);
    at += EB_HEADER_SIZE;
    if ((h.descriptor & EB_EOF) !== 0) {
      eof = true;
      connections = h.offset;
    } else if (h.count > 0) {
      if (at + h.count > stream.length) throw new RangeError(`a MODE E block of ${h.count} bytes is cut after ${stream.length - at}`);
      parts.push({ offset: h.offset, bytes: stream.subarray(at, at + h.count) });
      at += h.count;
    }
    if ((h.descriptor & EB_EOD) !== 0) eod = true;
  }
  const size = parts.reduce((m, p) => Math.max(m, p.offset + p.bytes.length), 0);
  const data = Buffer.alloc(size);
  for (const p of parts) p.bytes.copy(data, p.offset);
  return { data, eof, eod, connections, rest: stream.length - at };
}
