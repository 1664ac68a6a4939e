import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LineSplitter } from '../../src/exporter/lines.js';

type Out = { line: string; no: number } | { overlong: number; no: number };

function split(chunks: Buffer[], max = 1000): Out[] {
  const out: Out[] = [];
  const s = new LineSplitter(max, {
    line: (l, no) => out.push({ line: l.toString('latin1'), no }),
    overlong: (no, bytes) => out.push({ overlong: bytes, no }),
  });
  for (const c of chunks) s.push(c);
  s.end();
  return out;
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('LineSplitter', () => {
  const cases: [string, string[], Out[]][] = [
    ['one chunk, two lines', ['a\nb\n'], [{ line: 'a', no: 1 }, { line: 'b', no: 2 }]],
    ['last line without newline', ['a\nb'], [{ line: 'a', no: 1 }, { line: 'b', no: 2 }]],
    ['empty lines are numbered', ['\n\nx\n'], [{ line: '', no: 1 }, { line: '', no: 2 }, { line: 'x', no: 3 }]],
    ['CR stays part of the line', ['a\r\nb\r\n'], [{ line: 'a\r', no: 1 }, { line: 'b\r', no: 2 }]],
    ['line across three chunks', ['ab', 'cd', 'ef\ng'], [{ line: 'abcdef', no: 1 }, { line: 'g', no: 2 }]],
    ['newline at chunk start', ['ab', '\ncd'], [{ line: 'ab', no: 1 }, { line: 'cd', no: 2 }]],
    ['empty input', [], []],
    ['empty chunks', ['', 'a', '', '\n', ''], [{ line: 'a', no: 1 }]],
  ];
  for (const [name, chunks, want] of cases) {
    it(name, () => assert.deepEqual(split(chunks.map(b)), want));
  }

  it('reports overlong lines with their full length and goes on', () => {
    const long = 'x'.repeat(25);
    assert.deepEqual(split([b(`ok\n${long}\nok2\n`)], 10), [{ line: 'ok', no: 1 }, { overlong: 25, no: 2 }, { line: 'ok2', no: 3 }]);
    // Split over chunks, the carry is dropped once over the limit.
    assert.deepEqual(split([b('ok\nxxxxxx'), b('xxxxxx'), b('xxxxx\nok2')], 10),
      [{ line: 'ok', no: 1 }, { overlong: 17, no: 2 }, { line: 'ok2', no: 3 }]);
    // An overlong last line without newline.
    assert.deepEqual(split([b('xxxxxxxx'), b('xxxxxxxx')], 10), [{ overlong: 16, no: 1 }]);
    // Exactly at the limit is fine.
    assert.deepEqual(split([b('xxxxx'), b('xxxxx\n')], 10), [{ line: 'x'.repeat(10), no: 1 }]);
  });

  const pendingCases: [string, string[], number, number][] = [
    // name, chunks, max, bytes of the line begun but not ended
    ['ends with a newline', ['a\nb\n'], 100, 0],
    ['cut last line', ['a\nbc'], 100, 2],
    ['cut last line over chunks', ['a\nb', 'cd', 'e'], 100, 4],
    ['cut overlong last line: its full length', ['ok\nxxxxxx', 'xxxxxx'], 10, 12],
    ['nothing', [], 100, 0],
  ];
  for (const [name, chunks, max, pending] of pendingCases) {
    it(`pendingBytes: ${name}; dropPending forgets it`, () => {
      const out: string[] = [];
      const s = new LineSplitter(max, { line: (l) => out.push(l.toString('latin1')), overlong: (no) => out.push(`overlong ${no}`) });
      for (const c of chunks) s.push(b(c));
      assert.equal(s.pendingBytes, pending);
      const before = [...out];
      s.dropPending();
      assert.equal(s.pendingBytes, 0);
      s.end();
      assert.deepEqual(out, before, 'no line after dropPending');
    });
  }

  it('copies what it keeps: reusing the input buffer does not corrupt a carried line', () => {
    const buf = Buffer.alloc(8);
    const out: string[] = [];
    const s = new LineSplitter(100, { line: (l) => out.push(l.toString('latin1')), overlong: () => assert.fail('overlong') });
    for (const part of ['ab\ncd', 'ef\ngh', 'ij']) {
      buf.write(part.padEnd(8, '#'), 'latin1');
      s.push(buf.subarray(0, part.length));
    }
    s.end();
    assert.deepEqual(out, ['ab', 'cdef', 'ghij']);
  });

  it('any chunking gives the same lines (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.constantFrom('a', 'b', '\n', '\r', ' '), { maxLength: 200 }),
      fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 30 }),
      (chars, sizes) => {
        const text = b(chars.join(''));
        const chunks: Buffer[] = [];
        let off = 0;
        for (let i = 0; off < text.length; i++) {
          const n = sizes[i % sizes.length] as number;
          chunks.push(text.subarray(off, off + n));
          off += n;
        }
        assert.deepEqual(split(chunks), split([text]));
      },
    ));
  });
});
