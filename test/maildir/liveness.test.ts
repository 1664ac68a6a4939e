import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { holderAlive, holderState, ownLife, parseProcStatStart, processLife } from '../../src/queue/liveness.js';

const statCases: [string, string | undefined][] = [
  ['11202 (cat) R 11200 11200 5452 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 40476 3133440 389 18446744073709551615', '40476'],
  // the command name may hold blanks and parentheses: fields count from the last ')'
  ['42 (a) b) (c d) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654321 0 0', '987654321'],
  ['42 (x) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0', undefined],
  ['42 (x) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 -5 0', undefined],
  ['no parenthesis at all', undefined],
  ['', undefined],
];
for (const [text, want] of statCases) {
  test(`parseProcStatStart(${JSON.stringify(text.slice(0, 24))}…)`, () => assert.equal(parseProcStatStart(text), want));
}

const sleeper = () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  return { child, pid: child.pid as number, gone: new Promise<void>((r) => child.on('exit', () => r())) };
};

test('this process: its life is <start ticks>-<8 hex digits of the boot id>, alive with and without it', () => {
  const life = ownLife();
  assert.match(life ?? '', /^\d+-[0-9a-f]{8}$/);
  const ticks = readFileSync('/proc/self/stat', 'utf8').slice(readFileSync('/proc/self/stat', 'utf8').lastIndexOf(')') + 2).split(' ')[19];
  assert.equal(life?.split('-')[0], ticks);
  assert.equal(life?.split('-')[1], readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8));
  assert.equal(holderState(process.pid, life), 'alive');
  assert.equal(holderAlive(process.pid), true);
});

test('a live unrelated process under a recorded pid but another start time or boot: reused, not alive; a finished one: gone', async (t) => {
  const s = sleeper();
  t.after(() => s.child.kill('SIGKILL'));
  const life = processLife(s.pid);
  assert.match(life ?? '', /^\d+-[0-9a-f]{8}$/);
  const [ticks, boot] = (life as string).split('-') as [string, string];
  assert.equal(holderState(s.pid, life), 'alive');
  assert.equal(holderState(s.pid, `${Number(ticks) + 1}-${boot}`), 'reused', 'started at another time');
  assert.equal(holderState(s.pid, `${ticks}-${boot === '00000000' ? '11111111' : '00000000'}`), 'reused', 'started in another boot');
  assert.equal(holderAlive(s.pid, `${Number(ticks) + 1}-${boot}`), false);
  assert.equal(holderAlive(s.pid), true, 'no life recorded (an old claim): as before, the pid alone');
  s.child.kill('SIGKILL');
  await s.gone;
  assert.equal(holderState(s.pid, life), 'gone');
  assert.equal(holderAlive(s.pid), false);
});
