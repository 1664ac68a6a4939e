/**
 * Streaming line splitter on Buffers. Lines are handed out without their
 * '\n' (a CR before it stays part of the line) as views into the input
 * chunk when possible, so the caller must copy what it keeps. Memory is
 * bounded: a line longer than `maxLineBytes` is not collected, it is
 * reported as overlong (with its full length) once its end is seen.
 */
const NL = 0x0a;

export interface LineSink {
  /** A complete line (1-based number), view valid only during the call. */
  line(line: Buffer, lineNo: number): void;
  /** A line longer than the limit, skipped; `bytes` is its length without '\n'. */
  overlong(lineNo: number, bytes: number): void;
}

export class LineSplitter {
  private readonly max: number;
  private readonly sink: LineSink;
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** Bytes of the current overlong line seen so far (-1: not skipping). */
  private skipped = -1;
  private lineNo = 0;

  constructor(maxLineBytes: number, sink: LineSink) {
    this.max = maxLineBytes;
    this.sink = sink;
  }

  /** Number of lines completed so far. */
  get lines(): number {
    return this.lineNo;
  }

  push(chunk: Buffer): void {
    let start = 0;
    const len = chunk.length;
    while (start < len) {
      const nl = chunk.indexOf(NL, start);
      if (nl === -1) {
        this.keep(chunk.subarray(start));
        return;
      }
      this.complete(chunk, start, nl);
      start = nl + 1;
    }
  }

  /** Bytes of a line begun but not ended by '\n' yet (also when it is overlong). */
  get pendingBytes(): number {
    return this.skipped >= 0 ? this.skipped : this.carryBytes;
  }

  /** Forget the line begun but not ended (a cut last line that is not to be used). */
  dropPending(): void {
    this.skipped = -1;
    this.carry = [];
    this.carryBytes = 0;
  }

  /** End of input: a last line without '\n' is still a line. */
  end(): void {
    if (this.skipped >= 0 || this.carryBytes > 0) this.complete(Buffer.alloc(0), 0, 0);
  }

  private keep(part: Buffer): void {
    if (this.skipped >= 0) {
      this.skipped += part.length;
      return;
    }
    if (this.carryBytes + part.length > this.max) {
      this.skipped = this.carryBytes + part.length;
      this.carry = [];
      this.carryBytes = 0;
      return;
    }
    // Copy: the chunk may be large and we keep only a tail of it.
    this.carry.push(Buffer.from(part));
    this.carryBytes += part.length;
  }

  private complete(chunk: Buffer, start: number, end: number): void {
    const lineNo = ++this.lineNo;
    if (this.skipped >= 0) {
      const bytes = this.skipped + (end - start);
      this.skipped = -1;
      this.sink.overlong(lineNo, bytes);
      return;
    }
    let line: Buffer;
    if (this.carryBytes > 0) {
      this.carry.push(chunk.subarray(start, end));
      line = Buffer.concat(this.carry, this.carryBytes + (end - start));
      this.carry = [];
      this.carryBytes = 0;
    } else {
      line = chunk.subarray(start, end);
    }
    if (line.length > this.max) this.sink.overlong(lineNo, line.length);
    else this.sink.line(line, lineNo);
  }
}
