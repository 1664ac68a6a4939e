/**
 * MODE E block framing (src/gridftp/mode-e.ts), from tables: the 17-byte
 * header (descriptor, 64-bit count, 64-bit offset, big-endian), the EOF
 * header of a one-connection transfer (EOF|EOD, count 0, offset = number
 * of connections), refusals of values a header cannot carry, and the
 * receiver's view of a whole stream (what the Globus server reassembles).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EB_CLOSE,
  EB_EOD,
  EB_EOF,
  EB_HEADER_SIZE,
  dataBlockHeader,
  decodeBlockHeader,
  describeDescriptor,
  encodeBlockHeader,
  eofHeader,
  reassemble,
} from '../../src/gridftp/mode-e.js';

describe('MODE E block headers', () => {
  const cases: Array<{ name: string; header: Buffer; hex: string }> = [
    { name: 'data block, 1 byte at 0', header: dataBlockHeader(1, 0), hex: '00' + '0000000000000001' + '0000000000000000' },
    { name: 'data block, 64 KiB at 64 KiB', header: dataBlockHeader(65_536, 65_536), hex: '00' + '0000000000010000' + '0000000000010000' },
    { name: 'data block beyond 4 GiB', header: dataBlockHeader(0x1234, 0x1_0000_0002), hex: '00' + '0000000000001234' + '0000000100000002' },
    { name: 'EOF|EOD over one connection', header: eofHeader(), hex: '48' + '0000000000000000' + '0000000000000001' },
    { name: 'EOF|EOD over four connections', header: eofHeader(4), hex: '48' + '0000000000000000' + '0000000000000004' },
    {
      name: 'EOD|CLOSE',
      header: encodeBlockHeader({ descriptor: EB_EOD | EB_CLOSE, count: 0, offset: 0 }),
      hex: '0c' + '0000000000000000' + '0000000000000000',
    },
    {
      name: 'largest safe count',
      header: encodeBlockHeader({ descriptor: 0, count: Number.MAX_SAFE_INTEGER, offset: 0 }),
      hex: '00' + '001fffffffffffff' + '0000000000000000',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.hex}`, () => {
      assert.equal(c.header.length, EB_HEADER_SIZE);
      assert.equal(c.header.toString('hex'), c.hex);
      const back = decodeBlockHeader(c.header);
      assert.deepEqual(encodeBlockHeader(back), c.header);
    });
  }

  const refused: Array<{ name: string; make: () => unknown; error: RegExp }> = [
    { name: 'an empty data block', make: () => dataBlockHeader(0, 0), error: /at least one byte/ },
    { name: 'a negative offset', make: () => dataBlockHeader(1, -1), error: /offset -1 is not a non-negative safe integer/ },
    { name: 'a fractional count', make: () => dataBlockHeader(1.5, 0), error: /count 1.5/ },
    { name: 'a count beyond 2^53', make: () => encodeBlockHeader({ descriptor: 0, count: 2 ** 53, offset: 0 }), error: /count/ },
    { name: 'a descriptor beyond a byte', make: () => encodeBlockHeader({ descriptor: 256, count: 0, offset: 0 }), error: /not a byte/ },
    { name: 'EOF over no connection', make: () => eofHeader(0), error: /at least one connection/ },
    { name: 'a short header', make: () => decodeBlockHeader(Buffer.alloc(16)), error: /17 bytes, got 16/ },
    { name: 'a decoded field beyond 2^53', make: () => decodeBlockHeader(Buffer.from('00' + 'ffffffffffffffff' + '00'.repeat(8), 'hex')), error: /beyond 2\^53/ },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}`, () => {
      assert.throws(c.make, (e: unknown) => e instanceof RangeError && c.error.test(e.message));
    });
  }

  const names: Array<[number, string]> = [
    [0, 'data'],
    [EB_EOF | EB_EOD, 'EOF|EOD'],
    [EB_EOD | EB_CLOSE, 'EOD|CLOSE'],
    [0xff, 'EOR|EOF|ERRORS|RESTART|EOD|CLOSE|0x03'],
  ];
  for (const [d, name] of names) it(`descriptor 0x${d.toString(16)} reads ${name}`, () => assert.equal(describeDescriptor(d), name));
});

describe('MODE E streams as the receiver sees them', () => {
  const block = (offset: number, bytes: string): Buffer => Buffer.concat([dataBlockHeader(bytes.length, offset), Buffer.from(bytes)]);
  const cases: Array<{ name: string; stream: Buffer; data: string; eof: boolean; eod: boolean; rest: number }> = [
    { name: 'an empty file: EOF|EOD alone', stream: eofHeader(), data: '', eof: true, eod: true, rest: 0 },
    { name: 'one block then EOF|EOD', stream: Buffer.concat([block(0, 'hello'), eofHeader()]), data: 'hello', eof: true, eod: true, rest: 0 },
    { name: 'blocks in order', stream: Buffer.concat([block(0, 'ab'), block(2, 'cd'), eofHeader()]), data: 'abcd', eof: true, eod: true, rest: 0 },
    { name: 'blocks out of order', stream: Buffer.concat([block(2, 'cd'), block(0, 'ab'), eofHeader()]), data: 'abcd', eof: true, eod: true, rest: 0 },
    { name: 'cut before EOF (a hole stays zero)', stream: Buffer.concat([block(3, 'xy')]), data: '\0\0\0xy', eof: false, eod: false, rest: 0 },
    {
      name: 'the next transfer after EOD is left for later',
      stream: Buffer.concat([block(0, 'a'), eofHeader(), block(0, 'b'), eofHeader()]),
      data: 'a', eof: true, eod: true, rest: 2 * EB_HEADER_SIZE + 1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = reassemble(c.stream);
      assert.equal(r.data.toString('latin1'), c.data);
      assert.deepEqual({ eof: r.eof, eod: r.eod, rest: r.rest }, { eof: c.eof, eod: c.eod, rest: c.rest });
      if (c.eof) assert.equal(r.connections, 1);
    });
  }
  it('a block cut short is an error', () => {
    const cut = block(0, 'hello').subarray(0, EB_HEADER_SIZE + 2);
    assert.throws(() => reassemble(cut), /block of 5 bytes is cut after 2/);
  });
});
