import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A temp directory removed after the test (kept when JP_KEEP_TMP is set). */
export async function tempDir(t: TestContext | { after: (fn: () => Promise<void>) => void }, prefix = 'jp-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(async () => {
    if (process.env['JP_KEEP_TMP'] === undefined) await rm(dir, { recursive: true, force: true });
  });
  return dir;
}
