import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { FileSender } from '../../src/upload/file-sender.js';
import { tempDir } from '../helpers/tmp.js';

async function file(t: TestContext, bytes: number): Promise<{ path: string; data: Buffer; handle: FileHandle }> {
  const path = join(await tempDir(t, 'jp-sender-'), 'f');
  const data = randomBytes(bytes);
  await writeFile(path, data);
  const handle = await open(path, 'r');
  t.after(() => handle.close().catch(() => undefined));
  return { path, data, handle };
}

/**
 * A destination that answers each write later (in a shuffled order of
 * timers, as a congested socket would) and, when it answers, checks that
 * the chunk still holds the bytes it was given: a buffer reused before its
 * write callback would have changed by then.
 */
class SlowSink extends Writable {
  readonly received: Buffer[] = [];
  changedUnderUs = 0;
  maxQueued = 0;
  private queued = 0;

  constructor(private readonly failAt?: number) {
    super({ highWaterMark: 1 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const copy = Buffer.from(chunk);
    this.queued++;
    this.maxQueued = Math.max(this.maxQueued, this.queued);
    const n = this.received.length;
    setTimeout(() => {
      this.queued--;
      if (!chunk.equals(copy)) this.changedUnderUs++;
      if (this.failAt !== undefined && n >= this.failAt) {
        cb(Object.assign(new Error('connection reset (test)'), { code: 'ECONNRESET' }));
        return;
      }
      this.received.push(copy);
      cb();
    }, n % 3);
  }
}

describe('FileSender', () => {
  it('piped: sends the range exactly, never reusing a buffer before its write callback', async (t) => {
    const { data, handle } = await file(t, 100 * 1024 + 123);
    const sender = new FileSender(handle, 1000, data.length, { chunk: 4096, buffers: 3 });
    const sink = new SlowSink();
    await pipeline(sender, sink);
    assert.equal(sink.changedUnderUs, 0);
    assert.ok(sink.received.length > 3, 'the buffers went round more than once');
    assert.deepEqual(Buffer.concat(sink.received), data.subarray(1000));
    assert.equal(sender.bytesRead, data.length - 1000);
  });

  it('read without a pipe: pushes the same bytes', async (t) => {
    const { data, handle } = await file(t, 50_000);
    const sender = new FileSender(handle, 7, data.length, { chunk: 4096 });
    const got: Buffer[] = [];
    for await (const c of sender) got.push(c as Buffer);
    assert.deepEqual(Buffer.concat(got), data.subarray(7));
    assert.equal(sender.bytesRead, data.length - 7);
  });

  it('an empty range ends at once', async (t) => {
    const { data, handle } = await file(t, 10);
    const sink = new SlowSink();
    const sender = new FileSender(handle, data.length, data.length);
    await pipeline(sender, sink);
    assert.equal(sink.received.length, 0);
    assert.equal(sender.bytesRead, 0);
  });

  it('a file that shrank ends the stream early; bytesRead tells', async (t) => {
    const { path, data, handle } = await file(t, 40_000);
    await truncate(path, 10_000);
    const sink = new SlowSink();
    const sender = new FileSender(handle, 0, data.length, { chunk: 4096 });
    await pipeline(sender, sink);
    assert.equal(sender.bytesRead, 10_000);
    assert.deepEqual(Buffer.concat(sink.received), data.subarray(0, 10_000));
  });

  it('a failed write fails the pipeline with that error and leaves the file open', async (t) => {
    const { data, handle } = await file(t, 200_000);
    const sender = new FileSender(handle, 0, data.length, { chunk: 4096, buffers: 2 });
    await assert.rejects(pipeline(sender, new SlowSink(5)), { code: 'ECONNRESET' });
    assert.equal(sender.destroyed, true);
    // The handle is its owner's: still readable for a resumed try.
    const again = new FileSender(handle, 0, data.length, { chunk: 65536 });
    const sink = new SlowSink();
    await pipeline(again, sink);
    assert.deepEqual(Buffer.concat(sink.received), data);
  });

  it('destroy() stops the reading: buffers given back afterwards are not refilled', async (t) => {
    const { data, handle } = await file(t, 1_000_000);
    const sender = new FileSender(handle, 0, data.length, { chunk: 4096, buffers: 2 });
    const held: Array<(err?: Error | null) => void> = [];
    let firstWrite!: () => void;
    const wrote = new Promise<void>((r) => {
      firstWrite = r;
    });
    const sink = new Writable({
      highWaterMark: 1,
      write: (_c, _e, cb) => {
        held.push(cb);
        firstWrite();
      },
    });
    sender.pipe(sink); // a plain pipe: destroying the source leaves the sink working
    await wrote;
    sender.destroy();
    const readThen = sender.bytesRead;
    assert.ok(readThen <= 2 * 4096, `read ${readThen} bytes with 2 buffers`);
    // The sink now finishes every write it was given: both buffers come back.
    for (let i = 0; i < 5; i++) {
      for (const cb of held.splice(0)) cb();
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 20)); // time for reads that must not happen
    assert.equal(sender.bytesRead, readThen);
  });
});
