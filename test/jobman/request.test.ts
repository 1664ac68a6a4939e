import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JpError } from '../../src/core/errors.js';
import { badScriptName, parseRequest, requestUid } from '../../src/jobman/request.js';
import { SPEC_EXAMPLE } from './fixtures.js';


test('request: the spec example', () => {
  const steps = parseRequest(Buffer.from(SPEC_EXAMPLE));
  assert.equal(steps.length, 1);
  assert.equal(steps[0]?.seq, 0);
  assert.equal(steps[0]?.sql, 'posupld');
  assert.equal(steps[0]?.rows.length, 2);
  assert.deepEqual(steps[0]?.rows[1], {
    ITEM: '1014303091143225', LOC: '1001000189', TRAN_DATE: '2018-04-01', SALE_QTY: -11, SALE_AMT: 90, ERROR_MESSAGE: '',
  });
});

test('request: valid shapes', () => {
  const cases: { body: string; steps: number; rows: number[] }[] = [
    { body: '[]', steps: 0, rows: [] },
    { body: '[{"sql":"a","rows":[]}]', steps: 1, rows: [0] },
    { body: '\uFEFF[{"sql":"a","rows":[{}]}]', steps: 1, rows: [1] },
    { body: '[{"rows":[{"A":null,"B":true,"C":1.5,"D":"x"}],"sql":"a-b_c.1"},{"sql":"b","rows":[{"x":1},{"x":2}]}]', steps: 2, rows: [1, 2] },
    { body: '[{"sql":"a","rows":[{"N":9007199254740991,"M":-9007199254740991,"F":1.5e10,"G":-0.001}]}]', steps: 1, rows: [1] },
    { body: '[{"sql":"über","rows":[{"$A#":1}]}]'.replace('$A#', 'A$#'), steps: 1, rows: [1] },
  ];
  for (const c of cases) {
    const steps = parseRequest(c.body);
    assert.equal(steps.length, c.steps, c.body);
    assert.deepEqual(steps.map((s) => s.rows.length), c.rows, c.body);
    steps.forEach((s, i) => assert.equal(s.seq, i));
  }
});

test('request: refused bodies carry the JSON path and the rule', () => {
  const cases: { body: string | Buffer; re: RegExp }[] = [
    { body: '', re: /body: not valid JSON/ },
    { body: '[{"sql":"a","rows":[]}', re: /body: not valid JSON/ },
    { body: Buffer.from([0x5b, 0xff, 0x5d]), re: /body: not valid UTF-8/ },
    { body: '{"sql":"a","rows":[]}', re: /body: must be a JSON array of steps, found an object/ },
    { body: '"x"', re: /body: must be a JSON array of steps, found a string/ },
    { body: 'null', re: /found null/ },
    { body: '[1]', re: /\[0\]: a step must be an object/ },
    { body: '[[]]', re: /\[0\]: a step must be an object .* found an array/ },
    { body: '[{"rows":[]}]', re: /\[0\]\.sql: missing \(a step needs "sql" naming a script\)/ },
    { body: '[{"sql":5,"rows":[]}]', re: /\[0\]\.sql: must be a string/ },
    { body: '[{"sql":"a"}]', re: /\[0\]\.rows: missing/ },
    { body: '[{"sql":"a","rows":{}}]', re: /\[0\]\.rows: must be an array/ },
    { body: '[{"sql":"a","rows":[],"extra":1}]', re: /\[0\]\."extra": unknown key/ },
    { body: '[{"sql":"../etc/passwd","rows":[]}]', re: /\[0\]\.sql: "..\/etc\/passwd": script name contains a path separator/ },
    { body: '[{"sql":"..","rows":[]}]', re: /script name contains '\.\.'/ },
    { body: '[{"sql":"a..b","rows":[]}]', re: /script name contains '\.\.'/ },
    { body: '[{"sql":"/abs","rows":[]}]', re: /path separator/ },
    { body: '[{"sql":"a\\\\b","rows":[]}]', re: /path separator/ },
    { body: '[{"sql":".hidden","rows":[]}]', re: /starts with '\.'/ },
    { body: '[{"sql":"","rows":[]}]', re: /empty script name/ },
    { body: '[{"sql":"a\\u0000","rows":[]}]', re: /NUL/ },
    { body: '[{"sql":"a\\nb","rows":[]}]', re: /control character/ },
    { body: `[{"sql":"${'a'.repeat(201)}","rows":[]}]`, re: /longer than 200 bytes/ },
    { body: '[{"sql":"a","rows":[1]}]', re: /\[0\]\.rows\[0\]: a row must be an object/ },
    { body: '[{"sql":"a","rows":[null]}]', re: /\[0\]\.rows\[0\]: a row must be an object/ },
    { body: '[{"sql":"a","rows":[{"A":{}}]}]', re: /\[0\]\.rows\[0\]\.A: values must be strings, numbers, booleans or null, found an object/ },
    { body: '[{"sql":"a","rows":[{"A":[1]}]}]', re: /found an array/ },
    { body: '[{"sql":"a","rows":[{"A":1e400}]}]', re: /number out of range/ },
    { body: '[{"sql":"a","rows":[{"A":9007199254740993}]}]', re: /beyond ±2\^53/ },
    { body: '[{"sql":"a","rows":[{"A":1e300}]}]', re: /beyond ±2\^53/ },
    { body: '[{"sql":"a","rows":[{"1A":1}]}]', re: /\.1A: key is not a valid bind-variable name/ },
    { body: '[{"sql":"a","rows":[{"A B":1}]}]', re: /key is not a valid bind-variable name/ },
    { body: '[{"sql":"a","rows":[{"":1}]}]', re: /key is not a valid bind-variable name/ },
    { body: '[{"sql":"a","rows":[{"__proto__":1}]}]', re: /reserved key name/ },
    { body: '[{"sql":"a","rows":[{"item":1,"ITEM":2}]}]', re: /ITEM: differs from key item only in letter case/ },
    { body: '[{"sql":"a","rows":[]},{"sql":"b","rows":[{},{"X":{"y":1}}]}]', re: /\[1\]\.rows\[1\]\.X/ },
  ];
  for (const c of cases) {
    assert.throws(() => parseRequest(c.body), (e: unknown) => {
      assert.ok(e instanceof JpError, String(c.body));
      assert.equal(e.code, 'JP_BAD_REQUEST');
      assert.equal(e.temporary, false);
      assert.match(e.message, c.re, String(c.body));
      return true;
    }, String(c.body));
  }
});

test('request: uid from the file name', () => {
  assert.equal(requestUid('abc.req'), 'abc');
  assert.equal(requestUid('a.b.req'), 'a.b');
  assert.equal(requestUid('1732180000_123456.localhost'), '1732180000_123456.localhost');
  assert.equal(requestUid('.req'), '.req');
  assert.equal(badScriptName('posupld'), undefined);
  assert.equal(badScriptName('pos.upld-2'), undefined);
});
