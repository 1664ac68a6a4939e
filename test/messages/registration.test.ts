import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { formatRegistration, parseRegistration } from '../../src/messages/registration.js';

const J = 'https://lb.example.org:9000/AbCdEf';
const DN = '/DC=org/DC=example/CN=Jane Doe';
const ok: [string, string | Buffer, { jobid: string; owner: string }][] = [
  ['as the LB server writes it', `${J}\n${DN}`, { jobid: J, owner: DN }],
  ['trailing newline', `${J}\n${DN}\n`, { jobid: J, owner: DN }],
  ['CRLF', `${J}\r\n${DN}\r\n`, { jobid: J, owner: DN }],
  ['blanks around', `  ${J} \n ${DN}  `, { jobid: J, owner: DN }],
  ['UTF-8 owner', `${J}\n/CN=Jiří Sitera`, { jobid: J, owner: '/CN=Jiří Sitera' }],
];
for (const [name, body, want] of ok) {
  test(`parseRegistration accepts: ${name}`, () => assert.deepEqual(parseRegistration(Buffer.from(body)), want));
}

const bad: [string, Buffer, RegExp][] = [
  ['empty', Buffer.alloc(0), /empty/],
  ['one line', Buffer.from(J), /one line/],
  ['three lines', Buffer.from(`${J}\n${DN}\nextra`), /3 lines/],
  ['empty owner', Buffer.from(`${J}\n  `), /empty owner/],
  ['binary', Buffer.from([0xff, 0xfe, 0x00, 0x01]), /UTF-8|NUL/],
  ['NUL inside', Buffer.from(`${J}\n/CN=a\0b`), /NUL/],
  ['invalid UTF-8', Buffer.concat([Buffer.from(`${J}\n/CN=`), Buffer.from([0xc3, 0x28])]), /UTF-8/],
  ['10 MB', Buffer.alloc(10 * 1024 * 1024, 0x41), /limit/],
  ['not a URL', Buffer.from(`not-a-url\n${DN}`), /not a URL/],
  ['ftp URL', Buffer.from(`ftp://x/y\n${DN}`), /http/],
  ['no unique part', Buffer.from(`https://lb.example.org:9000/\n${DN}`), /unique/],
  ['blank in job', Buffer.from(`https://lb.example.org:9000/a b\n${DN}`), /blanks/],
  ['control char in owner', Buffer.from(`${J}\n/CN=a\u0007b`), /control/],
];
for (const [name, body, want] of bad) {
  test(`parseRegistration refuses: ${name}`, () => {
    assert.throws(() => parseRegistration(body), (e: unknown) => isJpError(e, 'JP_MALFORMED_MESSAGE') && want.test(e.message));
  });
}

test('formatRegistration round-trips', () => {
  assert.deepEqual(parseRegistration(Buffer.from(formatRegistration({ jobid: J, owner: DN }))), { jobid: J, owner: DN });
});
