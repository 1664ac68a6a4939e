import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asText, hexDump, viewBody } from '../../src/ops/body.js';

const textCases: [string, Buffer, boolean, string | undefined][] = [
  ['ascii', Buffer.from('hello\nworld\t!\r\n'), false, 'hello\nworld\t!\r\n'],
  ['utf-8', Buffer.from('/CN=Müller/O=Český'), false, '/CN=Müller/O=Český'],
  ['empty', Buffer.alloc(0), false, ''],
  ['invalid byte', Buffer.from([0x61, 0xff, 0x62]), false, undefined],
  ['overlong encoding', Buffer.from([0xc0, 0xaf]), false, undefined],
  ['lone surrogate (CESU)', Buffer.from([0xed, 0xa0, 0x80]), false, undefined],
  ['cut multibyte at the end, complete file', Buffer.from([0x61, 0xc3]), false, undefined],
  ['cut multibyte at the end, prefix of a longer file', Buffer.from([0x61, 0xc3]), true, 'a'],
  ['NUL', Buffer.from('a\0b'), false, undefined],
  ['ESC', Buffer.from('a\x1b[31mb'), false, undefined],
  ['DEL', Buffer.from('a\x7f'), false, undefined],
  ['C1 CSI', Buffer.from('a\u009bb'), false, undefined],
  ['form feed', Buffer.from('a\fb'), false, undefined],
];
for (const [what, bytes, partial, want] of textCases) {
  test(`asText: ${what}`, () => assert.equal(asText(bytes, partial), want));
}

test('viewBody: short text, truncated text, binary', () => {
  assert.deepEqual(viewBody(Buffer.from('abc'), 3, 4096), { size: 3, kind: 'text', shownBytes: 3, truncated: false, text: 'abc' });
  const long = Buffer.from('x'.repeat(5000));
  assert.deepEqual(viewBody(long.subarray(0, 4096), 5000, 4096), { size: 5000, kind: 'text', shownBytes: 4096, truncated: true, text: 'x'.repeat(4096) });
  const utf = Buffer.from('éé'); // 4 bytes, cut after 3
  assert.deepEqual(viewBody(utf, 4, 3), { size: 4, kind: 'text', shownBytes: 2, truncated: true, text: 'é' });
  const bin = Buffer.alloc(600, 0);
  const v = viewBody(bin, 600, 4096);
  assert.equal(v.kind, 'binary');
  assert.equal(v.shownBytes, 512);
  assert.equal(v.truncated, true);
  assert.equal(v.hex, '00'.repeat(512));
  assert.deepEqual(viewBody(Buffer.from([0xff]), 1, 4096), { size: 1, kind: 'binary', shownBytes: 1, truncated: false, hex: 'ff' });
});

test('hexDump: offsets, two groups of 8, printable ASCII column', () => {
  assert.equal(hexDump(Buffer.from('ABCDEFGHIJKLMNOPQ\x00')),
    '00000000  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|\n'
    + '00000010  51 00                                             |Q.|');
  assert.equal(hexDump(Buffer.alloc(0)), '');
});
