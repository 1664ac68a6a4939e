import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../../src/config/duration.js';

const cases: [string | number, 'ms' | 's', number | undefined][] = [
  ['2', 's', 2000], [2, 's', 2000], ['0.5', 's', 500], ['500ms', 's', 500], ['30s', 's', 30_000], ['5m', 's', 300_000],
  ['1h', 's', 3_600_000], ['5d', 's', 432_000_000], [' 5m ', 's', 300_000], ['250', 'ms', 250],
  ['', 's', undefined], ['abc', 's', undefined], ['-1', 's', undefined], ['5 weeks', 's', undefined], ['1e3', 's', undefined],
  [-5, 's', undefined], [Number.NaN, 's', undefined], ['99999999999999999999d', 's', undefined],
];
for (const [input, unit, want] of cases) {
  test(`parseDuration(${JSON.stringify(input)}, ${unit})`, () => assert.equal(parseDuration(input, unit), want));
}
