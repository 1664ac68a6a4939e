/** The strict JSON check the log tests rely on (test/helpers/strict-json.ts), from a table of cases. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { badJsonLines, jsonProblem } from '../helpers/strict-json.js';

const VALID = [
  '{}', '[]', '0', '-0', '1.5e-3', '-12E+2', '"x"', 'true', 'false', 'null', ' { } ', '\t[ 1 , 2 ]\r\n',
  '{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}', // the same key in different objects is fine
  '{"a":"\\"","b":"\\\\","c":"\\u00e9\\n\\t\\/","d":"é 😀"}',
  '{"level":30,"time":1,"pid":2,"hostname":"h","name":"jp-importer","id":"m1","msg":"delivered"}',
  '{"":1,"a":{"":2}}',
  '[[[[[]]]]]',
];

const INVALID: [string, RegExp][] = [
  ['{"msg":"a","msg":"b"}', /duplicate key "msg" at offset 11/],
  ['{"level":30,"time":1,"msg":"x","id":"m","kind":"dump","id":"n"}', /duplicate key "id"/],
  ['{"a":{"b":1,"b":2}}', /duplicate key "b"/],
  ['[{"x":1},{"y":1,"y":1}]', /duplicate key "y"/],
  ['{"a":1,"\\u0061":2}', /duplicate key "\\u0061"/], // the same key, escaped
  ['{"a":1,}', /expected a key/],
  ['{"a" 1}', /expected ':'/],
  ['{"a":1 "b":2}', /expected ',' or '}'/],
  ['[1,]', /unexpected "]"/],
  ['[1 2]', /expected ',' or '\]'/],
  ['{"a":01}', /expected ',' or '}'/],
  ['{"a":1.}', /expected ',' or '}'/],
  ['{"a":+1}', /unexpected "\+"/],
  ['{"a":"tab\there"}', /invalid string/],
  ['{"a":"\\x"}', /invalid string/],
  ['{"a":"\\u12"}', /invalid string/],
  ['{"a":"open}', /invalid string/],
  ["{'a':1}", /expected a key/],
  ['{a:1}', /expected a key/],
  ['{"a":tru}', /unexpected "t"/],
  ['{"a":NaN}', /unexpected "N"/],
  ['{"a":1}}', /text after the value/],
  ['{"a":1}{"b":2}', /text after the value/],
  ['', /unexpected end/],
  ['   ', /unexpected end/],
  ['{"a":', /unexpected end/],
  ['{"a":1', /expected ',' or '}'/],
  ['['.repeat(600) + ']'.repeat(600), /nested too deep/],
];

test('valid JSON without duplicate keys passes', () => {
  for (const text of VALID) {
    assert.equal(jsonProblem(text), undefined, text);
    JSON.parse(text); // the table itself is valid JSON
  }
});

test('invalid JSON and duplicate keys are reported with what and where', () => {
  for (const [text, why] of INVALID) {
    const p = jsonProblem(text);
    assert.ok(p !== undefined, `accepted: ${text.slice(0, 60)}`);
    assert.match(p, why, text.slice(0, 60));
  }
});

test('JSON.parse alone would not notice a duplicate key (why the scanner exists)', () => {
  assert.deepEqual(JSON.parse('{"msg":"m-17","msg":"delivered"}'), { msg: 'delivered' });
  assert.notEqual(jsonProblem('{"msg":"m-17","msg":"delivered"}'), undefined);
});

test('badJsonLines: every non-empty line must be a JSON object with one value per key', () => {
  const text = ['{"a":1}', '', '{"a":1,"a":2}', '[1]', 'plain text', '{"b":2}', ''].join('\n');
  assert.deepEqual(badJsonLines(text).map((b) => [b.line, b.problem.replace(/ at offset \d+$/, '')]), [
    ['{"a":1,"a":2}', 'duplicate key "a"'],
    ['[1]', 'not a JSON object'],
    ['plain text', 'unexpected "p"'],
  ]);
});
