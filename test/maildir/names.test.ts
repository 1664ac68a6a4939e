import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  badMessageName, claimName, generateName, parseClaimName, parseNameTime, sanitizeHost,
} from '../../src/queue/names.js';

test('generateName: LB time prefix, pid, seq and host; unique per seq', () => {
  const n = generateName(1732180000123, 4242, 7, 'lb.example.org', 456);
  assert.equal(n, '1732180000_123456_4242_7.lb.example.org');
  assert.notEqual(n, generateName(1732180000123, 4242, 8, 'lb.example.org', 456));
  assert.notEqual(n, generateName(1732180000123, 4243, 7, 'lb.example.org', 456));
});

const timeCases: [string, { sec: number; usec: number } | undefined][] = [
  ['1732180000_123456.localhost', { sec: 1732180000, usec: 123456 }],
  ['1732180000_5.host', { sec: 1732180000, usec: 5 }],
  ['1732180000_123456_4242_7.lb.example.org', { sec: 1732180000, usec: 123456 }],
  ['refused_1.x', undefined],
  ['1732180000.localhost', undefined],
  ['abc', undefined],
  ['', undefined],
];
for (const [name, want] of timeCases) {
  test(`parseNameTime(${JSON.stringify(name)})`, () => assert.deepEqual(parseNameTime(name), want));
}

const badCases: [string, RegExp | undefined][] = [
  ['1732180000_123456.localhost', undefined],
  ['any-producer-name', undefined],
  ['', /empty/],
  ['.hidden', /hidden/],
  ['a:1@h', /reserved for claims/],
  ['x.meta', /sidecars/],
  ['a'.repeat(201), /longer than 200/],
  ['a\0b', /NUL/],
];
for (const [name, want] of badCases) {
  test(`badMessageName(${JSON.stringify(name.slice(0, 20))})`, () => {
    const got = badMessageName(name);
    if (want === undefined) assert.equal(got, undefined);
    else assert.match(got ?? '', want);
  });
}

const hostCases: [string, string][] = [
  ['lb.example.org', 'lb.example.org'],
  ['host:with/odd chars', 'host-with-odd-chars'],
  ['...lead', 'lead'],
  ['', 'localhost'],
  ['a@b', 'a-b'],
];
for (const [h, want] of hostCases) {
  test(`sanitizeHost(${JSON.stringify(h)})`, () => assert.equal(sanitizeHost(h), want));
}

test('claimName and parseClaimName round-trip', () => {
  const c = claimName('1732180000_123456.localhost', 99, 'node1.example');
  assert.equal(c, '1732180000_123456.localhost:99@node1.example');
  assert.deepEqual(parseClaimName(c), { name: '1732180000_123456.localhost', pid: 99, host: 'node1.example' });
});

const claimCases: [string, ReturnType<typeof parseClaimName>][] = [
  ['m:12@h', { name: 'm', pid: 12, host: 'h' }],
  ['a:b:12@h', { name: 'a:b', pid: 12, host: 'h' }],
  ['m', undefined],
  [':12@h', undefined],
  ['m:0@h', undefined],
  ['m:x@h', undefined],
  ['m:12@', undefined],
  ['m:12@h/x', undefined],
  ['m:12345678901@h', undefined],
];
for (const [c, want] of claimCases) {
  test(`parseClaimName(${JSON.stringify(c)})`, () => assert.deepEqual(parseClaimName(c), want));
}

// Claims record the holder's life (process start time in clock ticks since boot, and the boot id's first 8 hex digits)
// so that a pid reused after a crash or a reboot is told apart; claims without it (older versions) are still read.
test('claimName with the holder life, and back', () => {
  const c = claimName('1732180000_123456.localhost', 99, 'node1.example', '40476-14d37839');
  assert.equal(c, '1732180000_123456.localhost:99-40476-14d37839@node1.example');
  assert.deepEqual(parseClaimName(c), { name: '1732180000_123456.localhost', pid: 99, host: 'node1.example', life: '40476-14d37839' });
  assert.equal(claimName('m', 7, 'h', undefined), 'm:7@h', 'no life known: the old format');
});

const lifeCases: [string, ReturnType<typeof parseClaimName>][] = [
  ['m:12-40476-14d37839@h', { name: 'm', pid: 12, host: 'h', life: '40476-14d37839' }],
  ['a:b:12-1-0123abcd@h.x', { name: 'a:b', pid: 12, host: 'h.x', life: '1-0123abcd' }],
  ['m:12-0-00000000@h', { name: 'm', pid: 12, host: 'h', life: '0-00000000' }],
  ['m:12-40476@h', undefined],
  ['m:12-x-14d37839@h', undefined],
  ['m:12-1-14D37839@h', undefined],
  ['m:12-1-14d3783@h', undefined],
  ['m:12-1-14d378390@h', undefined],
  ['m:12-1-14d37839-1@h', undefined],
  ['m:12--14d37839@h', undefined],
  ['m:-1-14d37839@h', undefined],
  ['m:0-1-14d37839@h', undefined],
  ['m:12-123456789012345678901-14d37839@h', undefined],
];
for (const [c, want] of lifeCases) {
  test(`parseClaimName with life (${JSON.stringify(c)})`, () => assert.deepEqual(parseClaimName(c), want));
}
