import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
process.on('exit', () => {
  if (process.env['JP_KEEP_TMP'] !== undefined) return;
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/**
 * A temp directory, removed when the test process exits (after every
 * service and child that used it has been closed). JP_KEEP_TMP keeps it.
 */
export async function tempDir(_t?: unknown, prefix = 'jp-test-'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
