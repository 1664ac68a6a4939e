/**
 * The GridFTP control reply parser (src/gridftp/reply.ts), from tables of
 * cases: line splitting across chunks, single and multi-line replies (RFC
 * 959 and Globus' `ddd-` continuation lines), protected 63x replies (one
 * base64 token per line, multi-line), ADAT tokens, and malformed input.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  adatToken,
  isProtectedReply,
  LineSplitter,
  protectedTokens,
  ReplyAssembler,
  ReplySyntaxError,
  replySummary,
  type FtpReply,
} from '../../src/gridftp/reply.js';

function assemble(lines: string[]): FtpReply[] {
  const a = new ReplyAssembler();
  const out: FtpReply[] = [];
  for (const l of lines) {
    const r = a.push(l);
    if (r !== undefined) out.push(r);
  }
  assert.equal(a.open, false, 'a reply left open');
  return out;
}

describe('gridftp reply parser', () => {
  const cases: Array<{ name: string; lines: string[]; want: Array<{ code: number; text: string; lines: number }> }> = [
    { name: 'single line', lines: ['220 vm GridFTP Server 13.24 ready.'], want: [{ code: 220, text: 'vm GridFTP Server 13.24 ready.', lines: 1 }] },
    { name: 'code alone', lines: ['200'], want: [{ code: 200, text: '', lines: 1 }] },
    { name: 'two replies', lines: ['331 Password required', '230 User root logged in.'], want: [{ code: 331, text: 'Password required', lines: 1 }, { code: 230, text: 'User root logged in.', lines: 1 }] },
    {
      name: 'multi-line, Globus style (ddd- on every line)',
      lines: ['530-globus_xio: Authentication Error', '530-GSS failure: ', '530-', '530 End.'],
      want: [{ code: 530, text: 'globus_xio: Authentication Error\nGSS failure: \n\nEnd.', lines: 4 }],
    },
    {
      name: 'multi-line, RFC 959 style (free text between)',
      lines: ['211-Extensions supported', ' DCAU', ' ESTO', ' MDTM', '211 End.'],
      want: [{ code: 211, text: 'Extensions supported\n DCAU\n ESTO\n MDTM\nEnd.', lines: 5 }],
    },
    {
      name: 'multi-line: an inner line starting with another code does not end it',
      lines: ['214-The following commands:', '200 is not the end', '214-still going', '214 Done.'],
      want: [{ code: 214, text: 'The following commands:\n200 is not the end\nstill going\nDone.', lines: 4 }],
    },
    {
      name: 'multi-line: "ddd-" of the same code does not end it, "ddd " does',
      lines: ['150-Opening', '150-more', '150 Beginning transfer.', '226 Transfer Complete.'],
      want: [{ code: 150, text: 'Opening\nmore\nBeginning transfer.', lines: 3 }, { code: 226, text: 'Transfer Complete.', lines: 1 }],
    },
    { name: 'multi-line ended by the code alone', lines: ['250-a', '250'], want: [{ code: 250, text: 'a\n', lines: 2 }] },
    {
      name: 'protected multi-line reply',
      lines: ['632-FwMDACsLkV0=', '632-FwMDAEfT', '632 FwMDABtS+ZQ='],
      want: [{ code: 632, text: 'FwMDACsLkV0=\nFwMDAEfT\nFwMDABtS+ZQ=', lines: 3 }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = assemble(c.lines);
      assert.deepEqual(
        got.map((r) => ({ code: r.code, text: r.text, lines: r.lines.length })),
        c.want,
      );
    });
  }

  const bad: Array<{ name: string; lines: string[] }> = [
    { name: 'no code', lines: ['hello'] },
    { name: 'short code', lines: ['22 ok'] },
    { name: 'code out of range', lines: ['720 what'] },
    { name: 'code glued to text', lines: ['220ready'] },
    { name: 'empty line', lines: [''] },
  ];
  for (const c of bad) {
    it(`refuses: ${c.name}`, () => {
      assert.throws(() => assemble(c.lines), ReplySyntaxError);
    });
  }

  it('bounds the lines of one reply', () => {
    const a = new ReplyAssembler({ maxLines: 3 });
    a.push('211-a');
    a.push(' b');
    a.push(' c');
    assert.throws(() => a.push(' d'), /more than 3 lines/);
  });

  it('splits lines across chunks, CRLF and bare LF, UTF-8', () => {
    const s = new LineSplitter();
    const chunks = ['22', '0 ready\r', '\n331 x\n250 ', 'p\xc5', '\x99ed\r\n'].map((x) => Buffer.from(x, 'latin1'));
    const lines = chunks.flatMap((c) => s.push(c));
    assert.deepEqual(lines, ['220 ready', '331 x', '250 před']);
    assert.equal(s.pending, 0);
  });

  it('bounds the line length, also of an unfinished line', () => {
    const s = new LineSplitter({ maxLineBytes: 8 });
    assert.throws(() => s.push(Buffer.from('123456789\n')), /longer than 8/);
    const s2 = new LineSplitter({ maxLineBytes: 8 });
    s2.push(Buffer.from('12345'));
    assert.throws(() => s2.push(Buffer.from('6789')), /longer than 8/);
  });

  const tokenCases: Array<{ name: string; reply: FtpReply; want: string[] | RegExp }> = [
    { name: 'one line', reply: { code: 632, lines: ['632 QUJD'], text: '' }, want: ['QUJD'] },
    { name: 'several lines', reply: { code: 631, lines: ['631-QQ==', '631-Qg==', '631 Qw=='], text: '' }, want: ['QQ==', 'Qg==', 'Qw=='] },
    { name: 'a line without the code', reply: { code: 632, lines: ['632-QQ==', 'QUJD', '632 Qw=='], text: '' }, want: /without its code/ },
    { name: 'not base64', reply: { code: 632, lines: ['632 not base64!'], text: '' }, want: /not base64/ },
  ];
  for (const c of tokenCases) {
    it(`protected tokens: ${c.name}`, () => {
      assert.equal(isProtectedReply(c.reply), true);
      if (c.want instanceof RegExp) assert.throws(() => protectedTokens(c.reply), c.want);
      else assert.deepEqual(protectedTokens(c.reply), c.want);
    });
  }

  it('only 631/632/633 are protected replies', () => {
    for (const code of [230, 530, 630, 634, 335]) assert.equal(isProtectedReply({ code, lines: [`${code} x`], text: 'x' }), false);
  });

  const adat: Array<{ line: string; want: string | undefined }> = [
    { line: '335 ADAT=FgMD', want: '160303' },
    { line: '235 ADAT=AAE=', want: '0001' },
    { line: '235 GSSAPI Authentication successful.', want: undefined },
    { line: '335 ADAT=', want: undefined },
    { line: '334 Using authentication type; ADAT must follow.', want: undefined },
  ];
  for (const c of adat) {
    it(`ADAT token of ${JSON.stringify(c.line)}`, () => {
      const r = assemble([c.line])[0] as FtpReply;
      assert.equal(adatToken(r)?.toString('hex'), c.want);
    });
  }

  it('summarizes a multi-line refusal on one line, without Globus "End."', () => {
    const r = assemble(['530-globus_xio: Authentication Error', '530-GSS Major Status: Authentication Failed', '530-', '530 End.'])[0] as FtpReply;
    assert.equal(replySummary(r), '530 globus_xio: Authentication Error / GSS Major Status: Authentication Failed');
    assert.match(replySummary(r, 20), /^.{20}…$/);
  });
});
