/**
 * Tests of a daemon that is not root (targets.md R12): CI runs as root, so
 * these tests set up files owned by several users and then run the code
 * under test in a child process with an unprivileged uid/gid (spawn's
 * uid/gid options: setgid + setuid before exec).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The daemon's user in these tests (nobody/nogroup on Debian). */
export const DAEMON_UID = 65534;
export const DAEMON_GID = 65534;
/** "Another user": owns the files the daemon must not be able to touch. */
export const OTHER_UID = 4242;
export const OTHER_GID = 4242;

/**
 * Why these tests cannot run here, or undefined when they can. `module`: a
 * file the unprivileged child must be able to load (node itself and the
 * build must be readable by that user: not so for a checkout under /root).
 */
export function unprivilegedSkipReason(opts: { protectedHardlinks?: boolean; module?: string } = {}): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create files of other users and to drop privileges';
  if (opts.module !== undefined) {
    const r = spawnSync(process.execPath, ['-e', 'require("node:fs").readFileSync(process.argv[1])', opts.module],
      { uid: DAEMON_UID, gid: DAEMON_GID, stdio: 'ignore', cwd: '/', timeout: 30_000 });
    if (r.error !== undefined || r.status !== 0) {
      return `uid ${DAEMON_UID} cannot run ${process.execPath} on ${opts.module} (${r.error?.message ?? `exit ${r.status}`}): node and the build must be readable by other users`;
    }
  }
  if (opts.protectedHardlinks === true) {
    let v = '';
    try {
      v = readFileSync('/proc/sys/fs/protected_hardlinks', 'utf8').trim();
    } catch (e) {
      return `cannot read /proc/sys/fs/protected_hardlinks: ${(e as Error).message}`;
    }
    if (v !== '1') return `sysctl fs.protected_hardlinks is ${v}, not 1`;
  }
  return undefined;
}

/** chown -R (no symlink following: lchown for links). */
export async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return;
  await chown(path, uid, gid);
  if (!st.isDirectory()) return;
  for (const e of await readdir(path)) await chownTree(join(path, e), uid, gid);
}

/** Let the unprivileged user walk through the test's (root-owned, 0700) temporary directory. */
export async function openUp(dir: string): Promise<void> {
  await chmod(dir, 0o755);
}

export interface ChildResult {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a compiled node module as uid/gid; resolves when it exits (killed after timeoutMs). */
export function runNodeAs(module: string, args: readonly string[], uid = DAEMON_UID, gid = DAEMON_GID, timeoutMs = 120_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [module, ...args], { uid, gid, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
