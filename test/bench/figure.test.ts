import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFigure, parseFigures, reportFigure, type Figure } from '../../bench/lib/figure.js';

const P4A: Figure = { id: 'P4a', measured: '251.9 files/s (one at a time)', baseline: '102.1 files/s (curl -T per file)', ratio: '2.47×', met: true };
const RSS: Figure = { id: 'P3 RSS', measured: 'n/a', baseline: '—', ratio: '—', met: null };
const line = (f: unknown): string => `FIGURE ${JSON.stringify(f)}`;

// [name, output, figures wanted | error message the parse must throw (a regular expression)]
const cases: [string, string, Figure[] | RegExp][] = [
  ['no output', '', []],
  ['prose only', 'P4a  40 files × 64 KiB\n  handler: 48.8 files/s   ratio 1.13×\n', []],
  ['one line among prose', `upload bench\n${line(P4A)}\nmore prose\n`, [P4A]],
  ['two figures, last line without a newline', `${line(P4A)}\n${line(RSS)}`, [P4A, RSS]],
  ['CRLF line ends', `x\r\n${line(P4A)}\r\n`, [P4A]],
  ['met false', line({ ...P4A, met: false }), [{ ...P4A, met: false }]],
  ['indented FIGURE is prose', `  ${line(P4A)}\n\tFIGURE {`, []],
  ['FIGURES and FIGURE_X are prose', 'FIGURES below\nFIGURE_X {\n', []],
  ['FIGURE alone', 'ok\nFIGURE\n', /FIGURE line 2 \("FIGURE"\): expected "FIGURE " followed by a JSON object/],
  ['no blank after FIGURE', `FIGURE${JSON.stringify(P4A)}`, /FIGURE line 1 .*expected "FIGURE " followed by a JSON object/],
  ['not JSON', 'FIGURE {"id":"P1",', /FIGURE line 1 \("FIGURE \{\\"id\\":\\"P1\\",\"\): not JSON/],
  ['JSON array', 'FIGURE []', /FIGURE line 1 .*not a JSON object/],
  ['JSON null', 'FIGURE null', /not a JSON object/],
  ['missing id', line({ measured: '1', baseline: '2', ratio: '3', met: true }), /"id" must be a string like "P1" or "P3 RSS", got nothing/],
  ['id with a bar', line({ ...P4A, id: 'P|1' }), /"id" must be a string/],
  ['missing ratio', line({ id: 'P1', measured: '1', baseline: '2', met: true }), /"ratio" must be a non-empty string, got nothing/],
  ['blank measured', line({ ...P4A, measured: ' ' }), /"measured" must be a non-empty string, got " "/],
  ['number for measured', line({ ...P4A, measured: 251.9 }), /"measured" must be a non-empty string, got 251.9/],
  ['bar in a cell', line({ ...P4A, baseline: 'a | b' }), /"baseline" must not hold '\|' or a line break/],
  ['line break in a cell', line({ ...P4A, ratio: '1\n2' }), /"ratio" must not hold '\|' or a line break/],
  ['met as a word', line({ ...P4A, met: 'yes' }), /"met" must be true, false or null, got "yes"/],
  ['met missing', line({ id: 'P1', measured: '1', baseline: '2', ratio: '3' }), /"met" must be true, false or null, got nothing/],
  ['unknown field', line({ ...P4A, unit: 'files/s' }), /unknown field "unit"/],
  ['same id twice', `${line(P4A)}\n${line({ ...P4A, met: false })}`, /FIGURE line 2 .*a second figure P4a/],
];

for (const [name, output, want] of cases) {
  test(`parseFigures: ${name}`, () => {
    if (want instanceof RegExp) {
      assert.throws(() => parseFigures(output), want);
      return;
    }
    const got = parseFigures(output);
    assert.deepEqual([...got.keys()], want.map((f) => f.id));
    for (const f of want) assert.deepEqual(got.get(f.id), f);
  });
}

test('reportFigure writes one FIGURE line that parseFigures reads back', () => {
  const out: string[] = [];
  reportFigure(P4A, (s) => out.push(s));
  reportFigure(RSS, (s) => out.push(s));
  assert.equal(out.length, 2);
  assert.equal(out[0], `FIGURE {"id":"P4a","measured":"251.9 files/s (one at a time)","baseline":"102.1 files/s (curl -T per file)","ratio":"2.47×","met":true}\n`);
  const back = parseFigures(out.join(''));
  assert.deepEqual(back.get('P4a'), P4A);
  assert.deepEqual(back.get('P3 RSS'), RSS);
});

test('formatFigure keeps only the five fields, in order', () => {
  const withExtra = { ...P4A, extra: 1 } as Figure;
  assert.equal(formatFigure(withExtra), line(P4A));
});

const invalid: [string, Figure, RegExp][] = [
  ['empty id', { ...P4A, id: '' }, /reportFigure\(""\): "id" must be a string/],
  ['bar in measured', { ...P4A, measured: '1 | 2' }, /reportFigure\("P4a"\): "measured" must not hold '\|'/],
  ['empty baseline', { ...P4A, baseline: '' }, /reportFigure\("P4a"\): "baseline" must be a non-empty string/],
  ['NaN-ish met', { ...P4A, met: undefined as unknown as null }, /reportFigure\("P4a"\): "met" must be true, false or null/],
];
for (const [name, fig, want] of invalid) {
  test(`reportFigure refuses ${name} and writes nothing`, () => {
    const out: string[] = [];
    assert.throws(() => reportFigure(fig, (s) => out.push(s)), want);
    assert.deepEqual(out, []);
  });
}
