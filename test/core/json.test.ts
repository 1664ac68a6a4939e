import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseJsonRecord } from '../../src/core/json.js';

const cases: [string, Record<string, unknown> | undefined][] = [
  ['{"version":1}', { version: 1 }],
  ['{}', {}],
  ['[]', undefined],
  ['[{"version":1}]', undefined],
  ['null', undefined],
  ['1', undefined],
  ['"x"', undefined],
  ['{', undefined],
  ['', undefined],
];
for (const [text, want] of cases) {
  test(`parseJsonRecord ${JSON.stringify(text)}`, () => assert.deepEqual(parseJsonRecord(text), want));
}
