import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketsOf, parseExposition, valueOf } from './prom-text.js';

test('the test parser reads samples, labels with escapes, special values and types', () => {
  const e = parseExposition([
    '# HELP a_total help text',
    '# TYPE a_total counter',
    'a_total{kind="reg",outcome="delivered"} 3',
    'a_total{kind="x\\"y\\\\z\\n"} 1.5 1700000000000',
    'g 7',
    'h_bucket{le="0.5",kind="k"} 2',
    'h_bucket{le="+Inf",kind="k"} 4',
    'n NaN',
    'n2 Nan',
    'i +Inf',
  ].join('\n'));
  assert.equal(e.types.get('a_total'), 'counter');
  assert.equal(valueOf(e, 'a_total', { kind: 'reg', outcome: 'delivered' }), 3);
  assert.equal(valueOf(e, 'a_total', { kind: 'x"y\\z\n' }), 1.5);
  assert.equal(valueOf(e, 'a_total', { kind: 'reg' }), undefined, 'labels must match exactly');
  assert.equal(valueOf(e, 'g'), 7);
  assert.ok(Number.isNaN(valueOf(e, 'n')));
  assert.ok(Number.isNaN(valueOf(e, 'n2')));
  assert.equal(valueOf(e, 'i'), Infinity);
  assert.deepEqual(bucketsOf(e, 'h', { kind: 'k' }), [['0.5', 2], ['+Inf', 4]]);
});

test('the test parser refuses malformed lines', () => {
  for (const bad of ['a{', 'a{b="c} 1', 'a{b=c} 1', 'a 1 2 3', 'a', 'a{b="\\q"} 1', 'a x', '1a 2', 'a{b="c"d="e"} 1']) {
    assert.throws(() => parseExposition(bad), Error, bad);
  }
});
