/** The master's supervision with fixture workers: restart backoff. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { validateOptions } from '../../src/config/options.js';
import { Master } from '../../src/daemon/master.js';
import type { WorkerSpec } from '../../src/daemon/spec.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'info' }, stream), lines };
}

const spec: WorkerSpec = { id: 'reg', role: 'reg', spool: '/nonexistent', options: validateOptions({}, {}), log: { format: 'json', level: 'info', file: undefined } };

async function restartDelays(fixture: string, n: number): Promise<number[]> {
  const { log, lines } = capture();
  const master = new Master([spec], log, {
    workerModule: new URL(`../fixtures/${fixture}.js`, import.meta.url).pathname,
    restartMinMs: 50, restartMaxMs: 5000, healthyAfterMs: 60_000,
  });
  await master.start(200);
  const t0 = Date.now();
  while (lines.filter((l) => /restarting/.test(String(l['msg']))).length < n && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
  await master.stop();
  return lines.filter((l) => /restarting/.test(String(l['msg']))).slice(0, n).map((l) => Number(l['restartInMs']));
}

test('a worker that dies at start is restarted with a doubling delay (no CPU spin)', async () => {
  assert.deepEqual(await restartDelays('worker-crash', 4), [50, 100, 200, 400]);
});

test('a worker that was running and settling messages is restarted after the minimum delay', async () => {
  assert.deepEqual(await restartDelays('worker-progress', 4), [50, 50, 50, 50]);
});
