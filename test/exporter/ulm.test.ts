import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseUlmLine, ulmFields, unescapeUlm } from '../../src/exporter/ulm.js';

const J = 'https://devel15.cnaf.infn.it:9000/rReV1TpJ5oY0Z1_M4NBfHw';
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const u = (s: string): Buffer => Buffer.from(s, 'utf8');

type Expect = { event: string } | { bad: RegExp } | 'empty';
const cases: [string, Buffer, Expect][] = [
  ['quoted DG.JOBID', b(`DG.JOBID="${J}"`), { event: J }],
  ['bare DG.JOBID', b(`DG.JOBID=${J} X=1`), { event: J }],
  ['DG.ARRIVED prefix', b(`DG.ARRIVED=20080928052442.410059 DATE=20080928052442.410059 HOST="h" PROG=edg-wms DG.JOBID="${J}" DG.EVNT="RegJob"`), { event: J }],
  ['tabs separate fields and pass raw inside quotes', b(`DATE=1\tDG.JOBID="${J}"\tX="a\tb"`), { event: J }],
  ['leading blanks', b(` \t DG.JOBID="${J}"`), { event: J }],
  ['trailing blanks', b(`DG.JOBID="${J}" \t `), { event: J }],
  ['escaped quotes in another value', b(`X="a \\"quoted\\" b" DG.JOBID="${J}"`), { event: J }],
  ['escaped backslash closing a value', b(`X="a\\\\" DG.JOBID="${J}"`), { event: J }],
  ['every escape kind', b(`X="\\n\\\\\\"\\t\\x" DG.JOBID="${J}"`), { event: J }],
  ['DG.JOBID text inside a JDL does not count', b(`DG.REGJOB.JDL="[ DG.JOBID=\\"https://x.org:9000/other\\"; edg_jobid = \\"https://x.org:9000/o2\\" ]" DG.JOBID="${J}"`), { event: J }],
  ['DG.JOBID text before the real field', b(`A="DG.JOBID=https://x.org:9000/fake" DG.JOBID="${J}"`), { event: J }],
  ['only DG.JOBID text inside a value', b('DG.REGJOB.JDL="[ DG.JOBID=\\"https://x.org:9000/other\\" ]" DG.EVNT="RegJob"'), { bad: /no DG\.JOBID field/ }],
  ['similar names do not count', b(`XDG.JOBID="${J}" DG.JOBIDX="${J}" DG.JOBID.X="${J}"`), { bad: /no DG\.JOBID field/ }],
  ['lowercase name does not count', b(`dg.jobid="${J}"`), { bad: /no DG\.JOBID field/ }],
  ['escapes inside the job id are undone', b('DG.JOBID="https://a.org:9000/a\\bc"'), { event: 'https://a.org:9000/abc' }],
  ['no DG.JOBID at all', b('DATE=1 HOST="h" DG.EVNT="Done"'), { bad: /no DG\.JOBID field/ }],
  ['empty line', b(''), 'empty'],
  ['blank-only line', b(' \t '), 'empty'],
  ['CR-only line', b('\r'), 'empty'],
  ['CRLF line (quoted)', b(`DG.JOBID="${J}"\r`), { event: J }],
  ['CRLF line (bare last value)', b(`X=1 DG.JOBID=${J}\r`), { event: J }],
  ['raw CR inside a quoted value', b(`X="a\rb" DG.JOBID="${J}"`), { event: J }],
  ['NUL inside a quoted value', b(`X="a\0b" DG.JOBID="${J}"`), { event: J }],
  ['invalid UTF-8 elsewhere is fine', b(`X="\xff\xfe\xc3" DG.JOBID="${J}"`), { event: J }],
  ['valid UTF-8 in a value', u(`DG.USER="/CN=Jiří Šťastný" DG.JOBID="${J}"`), { event: J }],
  ['UTF-8 job id decoded', u('DG.JOBID="https://a.org:9000/žluť"'), { event: 'https://a.org:9000/žluť' }],
  ['invalid UTF-8 in the job id', b('DG.JOBID="https://a.org:9000/\xff"'), { bad: /not valid UTF-8/ }],
  ['empty job id', b('DG.JOBID="" X=1'), { bad: /DG\.JOBID value is empty/ }],
  ['DG.JOBID twice', b(`DG.JOBID="${J}" DG.JOBID="${J}"`), { bad: /more than once/ }],
  ['unterminated quote', b(`DG.JOBID="${J}`), { bad: /unterminated quoted value of field "DG\.JOBID"/ }],
  ['unterminated after an escaped quote', b('X="abc\\"'), { bad: /unterminated quoted value of field "X" \(opened at column 3\)/ }],
  ['backslash at end of line inside quotes', b('X="abc\\'), { bad: /unterminated quoted value of field "X"/ }],
  ['escaped quote then CR at end', b('X="abc\\"\r'), { bad: /unterminated/ }],
  ['garbage after closing quote', b(`X="a"b DG.JOBID="${J}"`), { bad: /'b' after the closing quote of field "X"/ }],
  ['quote right after closing quote', b(`X="a""b" DG.JOBID="${J}"`), { bad: /after the closing quote/ }],
  ['backslash outside quotes', b(`X=a\\b DG.JOBID="${J}"`), { bad: /backslash outside quotes in field "X"/ }],
  ['quote inside a bare value', b(`X=a"b" DG.JOBID="${J}"`), { bad: /quote inside the unquoted value/ }],
  ['text without =', b('hello world'), { bad: /field "hello" has no '='/ }],
  ['name alone at end', b(`DG.JOBID="${J}" DG.EVNT`), { bad: /field "DG\.EVNT" has no '='/ }],
  ['blank after =', b(`X= 1 DG.JOBID="${J}"`), { bad: /field "X" has no value after '='/ }],
  ['= at end of line', b(`DG.JOBID="${J}" X=`), { bad: /field "X" has no value/ }],
  ['blank before =', b(`X =1 DG.JOBID="${J}"`), { bad: /field "X" has no '='/ }],
  ['empty name', b(`=1 DG.JOBID="${J}"`), { bad: /empty field name before '=' at column 1/ }],
  ['invalid character in a name', b(`X/Y=1 DG.JOBID="${J}"`), { bad: /invalid '\/' in field name "X"/ }],
  ['value starting with a quote in the middle', b(`"X"=1 DG.JOBID="${J}"`), { bad: /unexpected '"'/ }],
  ['non-ASCII name', u(`É=1 DG.JOBID="${J}"`), { bad: /unexpected byte 0xc3/ }],
  ['names with digits, dot, underscore, dash', b(`A_1.b-2=x DG.JOBID="${J}"`), { event: J }],
];

describe('parseUlmLine (table)', () => {
  for (const [name, line, want] of cases) {
    it(name, () => {
      const got = parseUlmLine(line);
      if (want === 'empty') assert.deepEqual(got, { kind: 'empty' });
      else if ('event' in want) assert.deepEqual(got, { kind: 'event', jobid: want.event });
      else {
        assert.equal(got.kind, 'bad', JSON.stringify(got));
        if (got.kind === 'bad') assert.match(got.reason, want.bad);
      }
    });
  }

  it('refuses a line longer than maxLineBytes, accepts one at the limit', () => {
    const line = b(`DG.JOBID="${J}" X="${'y'.repeat(100)}"`);
    assert.deepEqual(parseUlmLine(line, { maxLineBytes: line.length }), { kind: 'event', jobid: J });
    const r = parseUlmLine(line, { maxLineBytes: line.length - 1 });
    assert.equal(r.kind, 'bad');
    if (r.kind === 'bad') assert.match(r.reason, new RegExp(`line is ${line.length} bytes, longer than the limit of ${line.length - 1}`));
  });

  it('works on a view into a larger buffer (Uint8Array too)', () => {
    const big = b(`garbage\nDG.JOBID="${J}"\nmore`);
    const view = big.subarray(8, 8 + 10 + J.length + 1);
    assert.deepEqual(parseUlmLine(view), { kind: 'event', jobid: J });
    assert.deepEqual(parseUlmLine(new Uint8Array(view)), { kind: 'event', jobid: J });
  });

  it('is not confused by state left from a previous bad line', () => {
    assert.equal(parseUlmLine(b(`DG.JOBID="${J}" DG.JOBID="${J}"`)).kind, 'bad');
    assert.deepEqual(parseUlmLine(b('DG.JOBID="https://a.org:9000/x"')), { kind: 'event', jobid: 'https://a.org:9000/x' });
    assert.equal(parseUlmLine(b('X=1')).kind, 'bad');
  });
});

describe('ulmFields / unescapeUlm', () => {
  it('decodes every escape as the LB reader does', () => {
    const r = ulmFields(b('X="a\\"b\\\\c\\nd\\te" Y=bare Z=""'));
    assert.deepEqual(r, { fields: [{ name: 'X', value: 'a"b\\c\ndte' }, { name: 'Y', value: 'bare' }, { name: 'Z', value: '' }] });
  });

  it('reports the error of a malformed line', () => {
    const r = ulmFields(b('X="a'));
    assert.ok('error' in r && /unterminated/.test(r.error));
  });

  it('unescape keeps a lone trailing backslash and returns the input when there is nothing to undo', () => {
    assert.deepEqual(Buffer.from(unescapeUlm(b('a\\'))).toString('latin1'), 'a\\');
    const plain = b('abc');
    assert.equal(unescapeUlm(plain), plain);
  });
});
