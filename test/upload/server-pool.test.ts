/**
 * The per-server connection pool under FTP and GridFTP (src/upload/
 * server-pool.ts), with fake connections: reuse, the limit and its
 * waiters, an AbortSignal ending a wait, connections no longer reusable
 * closed instead of handed out, idle ones closed after idleMs, a lowered
 * limit growing back, a connect failure given to the caller or tried again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { ServerPool, type ServerPoolHooks } from '../../src/upload/server-pool.js';

interface Conn {
  id: number;
  open: boolean;
  generation: number;
}

function fakes(opts: { generation?: () => number; fail?: () => unknown } = {}) {
  let next = 0;
  const made: Conn[] = [];
  const closed: number[] = [];
  const hooks: ServerPoolHooks<Conn> = {
    connect: async () => {
      const f = opts.fail?.();
      if (f !== undefined) throw f;
      const c = { id: ++next, open: true, generation: opts.generation?.() ?? 0 };
      made.push(c);
      return c;
    },
    reusable: (c) => c.open && c.generation === (opts.generation?.() ?? 0),
    destroy: (c) => {
      c.open = false;
      closed.push(c.id);
    },
  };
  return { hooks, made, closed };
}

describe('ServerPool', () => {
  it('reuses a released connection; per server key', async () => {
    const pool = new ServerPool<Conn>({ what: 'T', maxPerHost: 2, idleMs: 10_000 });
    const f = fakes();
    const a = await pool.acquire('s1', f.hooks);
    a.release();
    const b = await pool.acquire('s1', f.hooks);
    assert.equal(b.conn, a.conn);
    assert.equal(b.reused, true);
    const other = await pool.acquire('s2', f.hooks);
    assert.notEqual(other.conn, a.conn);
    assert.deepEqual(pool.stats(), { connects: 2, reuses: 1, active: 2, idle: 0 });
    b.release();
    other.discard();
    assert.deepEqual(f.closed, [other.conn.id]);
    await pool.close(f.hooks);
    assert.deepEqual(f.closed.sort(), [1, 2]);
    await assert.rejects(pool.acquire('s1', f.hooks), (e: unknown) => isJpError(e, 'JP_ABORTED') && /T pool is closed/.test(e.message));
  });

  it('at most maxPerHost per server: the next caller waits for one freed, in order; an abort ends a wait', async () => {
    const pool = new ServerPool<Conn>({ what: 'T', maxPerHost: 1, idleMs: 10_000 });
    const f = fakes();
    const a = await pool.acquire('s', f.hooks);
    const order: string[] = [];
    const w1 = pool.acquire('s', f.hooks).then((l) => (order.push('w1'), l));
    const ac = new AbortController();
    const w2 = pool.acquire('s', f.hooks, ac.signal);
    const w3 = pool.acquire('s', f.hooks).then((l) => (order.push('w3'), l));
    ac.abort();
    await assert.rejects(w2, (e: unknown) => isJpError(e, 'JP_ABORTED'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, []);
    a.release();
    const l1 = await w1;
    assert.equal(l1.conn, a.conn);
    l1.release();
    const l3 = await w3;
    assert.deepEqual(order, ['w1', 'w3']);
    assert.equal(f.made.length, 1);
    l3.release();
    await pool.close(f.hooks);
  });

  it('a connection no longer reusable (broken, older credentials) is closed, not handed out', async () => {
    let gen = 1;
    const pool = new ServerPool<Conn>({ what: 'T', maxPerHost: 2, idleMs: 10_000 });
    const f = fakes({ generation: () => gen });
    const a = await pool.acquire('s', f.hooks);
    a.release();
    gen = 2;
    const b = await pool.acquire('s', f.hooks);
    assert.notEqual(b.conn, a.conn);
    assert.equal(b.reused, false);
    assert.deepEqual(f.closed, [a.conn.id]);
    b.conn.open = false;
    b.release(); // broken: closed on release
    assert.deepEqual(f.closed, [a.conn.id, b.conn.id]);
    assert.equal(pool.stats().idle, 0);
    await pool.close(f.hooks);
  });

  it('an idle connection is closed after idleMs', async () => {
    const pool = new ServerPool<Conn>({ what: 'T', maxPerHost: 1, idleMs: 30 });
    const f = fakes();
    (await pool.acquire('s', f.hooks)).release();
    for (let i = 0; i < 100 && f.closed.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(f.closed, [1]);
    assert.equal(pool.stats().idle, 0);
  });

  it('connect failures: thrown to the caller, or tried again when the protocol says so; a lowered limit grows back', async () => {
    const pool = new ServerPool<Conn>({ what: 'T', maxPerHost: 3, idleMs: 10_000 });
    let failures = 1;
    const f = fakes({ fail: () => (failures-- > 0 ? new Error('refused') : undefined) });
    await assert.rejects(pool.acquire('s', f.hooks), /refused/);
    assert.equal(pool.stats().active, 0);
    failures = 2;
    const seen: number[] = [];
    const lease = await pool.acquire('s', {
      ...f.hooks,
      connectFailed: async (_e, held, slots) => {
        seen.push(held);
        slots.limit = 1;
        slots.regrowAt = Date.now() + 40;
        return true;
      },
    });
    assert.deepEqual(seen, [0, 0]);
    assert.equal(pool.limitFor('s'), 1);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(pool.limitFor('s'), 3);
    lease.release();
    await pool.close(f.hooks);
  });
});
