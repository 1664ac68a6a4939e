import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Spool } from '../../src/maildir/spool.js';

/** A spool with 3 in new/, 1 claimed in cur/, 1 in post/ and 1 in undeliverable/ (both with .meta), plus strays. */
export async function filledSpool(root: string): Promise<Spool> {
  const spool = new Spool(root);
  await spool.init();
  const names: string[] = [];
  for (let i = 0; i < 6; i++) names.push(await spool.store(`message ${i}`));
  const claim = async (name: string) => {
    const msg = await spool.claim(name);
    assert.ok(msg !== undefined, name);
    return msg;
  };
  await claim(names[0] as string); // stays in cur/
  assert.equal((await spool.failed(await claim(names[1] as string), 'service unavailable')).state, 'post');
  await spool.giveUp(await claim(names[2] as string), 'malformed');
  await writeFile(join(root, 'new', '.hidden'), 'x');
  await mkdir(join(root, 'cur', 'subdir'));
  await writeFile(join(root, 'tmp', 'half-written'), 'x');
  return spool;
}
