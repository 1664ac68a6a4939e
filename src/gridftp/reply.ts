/**
 * FTP control replies, as the GridFTP server writes them: bytes → lines →
 * replies (RFC 959 single- and multi-line), and the protected replies of
 * RFC 2228 (`631`/`632`/`633`, one base64 token per line: `632-<b64>` …
 * `632 <b64>`), whose tokens the caller unwraps and feeds, as plain text,
 * into a second ReplyAssembler. Pure: no I/O, no TLS.
 */

/** One complete reply. */
export interface FtpReply {
  readonly code: number;
  /** The lines as received (without CR LF). */
  readonly lines: readonly string[];
  /** The text after the code on every line, joined by `\n` (continuation lines without a code taken whole). */
  readonly text: string;
}

/** The server wrote something that is not an FTP reply. */
export class ReplySyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplySyntaxError';
  }
}

export interface ReplyLimits {
  /** Longest line accepted, in bytes (default 64 KiB). */
  readonly maxLineBytes?: number;
  /** Most lines in one reply (default 4096). */
  readonly maxLines?: number;
}

const DEFAULT_MAX_LINE = 64 * 1024;
const DEFAULT_MAX_LINES = 4096;

/** Splits a byte stream into lines at LF (a CR before it dropped); text is UTF-8. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partLen = 0;
  private readonly max: number;

  constructor(limits: ReplyLimits = {}) {
    this.max = limits.maxLineBytes ?? DEFAULT_MAX_LINE;
  }

  /** Complete lines found in `chunk` (and what was buffered before it). */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      let line = chunk.subarray(start, nl);
      if (this.partLen > 0) {
        line = Buffer.concat([...this.parts, line]);
        this.parts = [];
        this.partLen = 0;
      }
      if (line.length > this.max) throw new ReplySyntaxError(`reply line longer than ${this.max} bytes`);
      const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
      lines.push(line.toString('utf8', 0, end));
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.partLen += rest.length;
      if (this.partLen > this.max) throw new ReplySyntaxError(`reply line longer than ${this.max} bytes`);
      this.parts.push(Buffer.from(rest));
    }
    return lines;
  }

  /** Bytes of an unfinished line. */
  get pending(): number {
    return this.partLen;
  }
}

const FIRST = /^([1-6]\d\d)([ -]|$)/;

/**
 * Assembles lines into replies. A reply is `ddd text`, or `ddd-text` …
 * ending with a line `ddd text` (or `ddd` alone) of the same code; the lines
 * between may be anything (Globus prefixes them with `ddd-`).
 */
export class ReplyAssembler {
  private code: number | undefined;
  private lines: string[] = [];
  private readonly maxLines: number;

  constructor(limits: ReplyLimits = {}) {
    this.maxLines = limits.maxLines ?? DEFAULT_MAX_LINES;
  }

  /** Add one line; a reply when it completes one. */
  push(line: string): FtpReply | undefined {
    if (this.code === undefined) {
      const m = FIRST.exec(line);
      if (m === null) throw new ReplySyntaxError(`not an FTP reply: ${JSON.stringify(line.slice(0, 80))}`);
      const code = Number(m[1]);
      if (m[2] === '-') {
        this.code = code;
        this.lines = [line];
        return undefined;
      }
      return finish(code, [line]);
    }
    this.lines.push(line);
    if (this.lines.length > this.maxLines) throw new ReplySyntaxError(`reply of more than ${this.maxLines} lines`);
    const prefix = String(this.code);
    if (line.startsWith(prefix) && (line.length === 3 || line[3] === ' ')) {
      const reply = finish(this.code, this.lines);
      this.code = undefined;
      this.lines = [];
      return reply;
    }
    return undefined;
  }

  /** True while a multi-line reply is open. */
  get open(): boolean {
    return this.code !== undefined;
  }
}

function finish(code: number, lines: string[]): FtpReply {
  const prefix = String(code);
  const text = lines
    .map((l) => (l.startsWith(prefix) && (l.length === 3 || l[3] === ' ' || l[3] === '-') ? l.slice(4) : l))
    .join('\n');
  return { code, lines, text };
}

/** RFC 2228 protected reply codes: 631 integrity, 632 confidentiality, 633 privacy. */
export function isProtectedReply(reply: FtpReply): boolean {
  return reply.code === 631 || reply.code === 632 || reply.code === 633;
}

/** The base64 tokens of a protected reply, one per line, in order. */
export function protectedTokens(reply: FtpReply): string[] {
  const prefix = String(reply.code);
  return reply.lines.map((l) => {
    if (!l.startsWith(prefix) || (l[3] !== ' ' && l[3] !== '-')) {
      throw new ReplySyntaxError(`line of a protected ${reply.code} reply without its code: ${JSON.stringify(l.slice(0, 80))}`);
    }
    const token = l.slice(4).trim();
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(token)) throw new ReplySyntaxError(`protected reply token is not base64: ${JSON.stringify(token.slice(0, 80))}`);
    return token;
  });
}

/** The `ADAT=<base64>` of a 335/235 reply, or undefined when it carries none. */
export function adatToken(reply: FtpReply): Buffer | undefined {
  const m = /(?:^|\s)ADAT=([A-Za-z0-9+/]*={0,2})\s*$/.exec(reply.lines[reply.lines.length - 1] ?? '');
  if (m === null || m[1] === undefined || m[1] === '') return undefined;
  return Buffer.from(m[1], 'base64');
}

/** A reply in one line for messages: codes and texts, lines joined by ` / `, shortened. */
export function replySummary(reply: FtpReply, max = 600): string {
  const parts = reply.text.split('\n').map((s) => s.trim()).filter((s) => s !== '' && s !== 'End.');
  const body = `${reply.code} ${parts.join(' / ')}`;
  return body.length > max ? `${body.slice(0, max)}…` : body;
}
