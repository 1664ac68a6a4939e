import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, readlink, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isJpError } from '../../src/core/errors.js';
import { classify } from '../../src/core/classify.js';
import { nodePathFs, resolveAllowedFile, isInside, type PathFs } from '../../src/upload/allowed-paths.js';

/** A PathFs that records every open of anything but a directory on the way (a refused file must never be opened). */
function spyFs(): PathFs & { opened: string[] } {
  const opened: string[] = [];
  return {
    opened,
    realpath: nodePathFs.realpath,
    lstat: nodePathFs.lstat,
    open: async (p, flags) => {
      const fh = await nodePathFs.open(p, flags);
      if ((flags & constants.O_DIRECTORY) === 0) opened.push(await readlink(`/proc/self/fd/${fh.fd}`));
      return fh;
    },
  };
}

describe('resolveAllowedFile', { timeout: 30_000 }, () => {
  let root = '';
  let allowed = '';
  let alias = '';
  after(() => rm(root, { recursive: true, force: true }));
  before(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'jp-paths-')));
    allowed = join(root, 'allowed');
    alias = join(root, 'alias');
    await mkdir(join(allowed, 'sub'), { recursive: true });
    await mkdir(join(root, 'outside'));
    await mkdir(join(root, 'allowed-evil'));
    await writeFile(join(allowed, 'dump'), 'inside');
    await writeFile(join(allowed, 'sub', 'dump2'), 'inside too');
    await writeFile(join(root, 'outside', 'secret'), 'secret');
    await writeFile(join(root, 'allowed-evil', 'f'), 'evil');
    await symlink(join(root, 'outside', 'secret'), join(allowed, 'link-out'));
    await symlink('dump', join(allowed, 'link-in'));
    await symlink('/etc/shadow', join(allowed, 'link-shadow'));
    await symlink(allowed, alias);
    await symlink(join(root, 'outside'), join(allowed, 'dirlink-out'));
    execFileSync('mkfifo', [join(allowed, 'fifo')]);
    execFileSync('mkfifo', [join(root, 'outside', 'fifo')]);
  });

  type Case = {
    name: string;
    file: () => string;
    dirs?: () => string[];
    ok?: () => string;
    code?: 'JP_PATH_NOT_ALLOWED' | 'JP_LOCAL_FILE';
    reason?: RegExp;
  };
  const cases: Case[] = [
    { name: 'regular file inside', file: () => join(allowed, 'dump'), ok: () => join(allowed, 'dump') },
    { name: 'file in a subdirectory', file: () => join(allowed, 'sub', 'dump2'), ok: () => join(allowed, 'sub', 'dump2') },
    { name: 'symlink to a file inside', file: () => join(allowed, 'link-in'), ok: () => join(allowed, 'dump') },
    { name: 'allowed dir given as a symlink', file: () => join(alias, 'dump'), dirs: () => [alias], ok: () => join(allowed, 'dump') },
    { name: 'real path under a symlinked allowed dir', file: () => join(allowed, 'dump'), dirs: () => [alias], ok: () => join(allowed, 'dump') },
    { name: '../ out of the allowed dir', file: () => `${allowed}/../outside/secret`, code: 'JP_PATH_NOT_ALLOWED', reason: /outside\/secret.*not inside the allowed directories/ },
    { name: '../ that comes back inside', file: () => `${allowed}/sub/../dump`, ok: () => join(allowed, 'dump') },
    { name: 'symlink pointing outside', file: () => join(allowed, 'link-out'), code: 'JP_PATH_NOT_ALLOWED', reason: /resolves to .*outside\/secret/ },
    { name: 'symlinked directory pointing outside', file: () => join(allowed, 'dirlink-out', 'secret'), code: 'JP_PATH_NOT_ALLOWED' },
    { name: '/etc/shadow', file: () => '/etc/shadow', code: 'JP_PATH_NOT_ALLOWED', reason: /"\/etc\/shadow" is not inside/ },
    { name: 'symlink to /etc/shadow', file: () => join(allowed, 'link-shadow'), code: 'JP_PATH_NOT_ALLOWED', reason: /resolves to "\/etc\/shadow"/ },
    { name: 'sibling dir sharing the prefix', file: () => join(root, 'allowed-evil', 'f'), code: 'JP_PATH_NOT_ALLOWED' },
    { name: 'FIFO outside', file: () => join(root, 'outside', 'fifo'), code: 'JP_PATH_NOT_ALLOWED' },
    { name: 'missing file', file: () => join(allowed, 'nope'), code: 'JP_LOCAL_FILE', reason: /does not exist/ },
    { name: 'missing directory on the way', file: () => join(allowed, 'nodir', 'f'), code: 'JP_LOCAL_FILE', reason: /does not exist/ },
    { name: 'a file used as a directory', file: () => join(allowed, 'dump', 'x'), code: 'JP_LOCAL_FILE', reason: /does not exist/ },
    { name: 'directory', file: () => join(allowed, 'sub'), code: 'JP_LOCAL_FILE', reason: /not a regular file \(a directory\)/ },
    { name: 'the allowed dir itself', file: () => allowed, code: 'JP_LOCAL_FILE', reason: /a directory/ },
    { name: 'FIFO inside', file: () => join(allowed, 'fifo'), code: 'JP_LOCAL_FILE', reason: /a FIFO/ },
    { name: 'relative path', file: () => 'allowed/dump', code: 'JP_PATH_NOT_ALLOWED', reason: /not an absolute path/ },
    { name: 'NUL byte', file: () => `${allowed}/dump\0x`, code: 'JP_PATH_NOT_ALLOWED' },
    { name: 'no allowed dirs configured', file: () => join(allowed, 'dump'), dirs: () => [], code: 'JP_PATH_NOT_ALLOWED', reason: /none configured, see --allow-dir/ },
    { name: 'allowed dir that does not exist', file: () => join(allowed, 'dump'), dirs: () => [join(root, 'gone')], code: 'JP_PATH_NOT_ALLOWED' },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const fs = spyFs();
      const dirs = c.dirs?.() ?? [allowed];
      if (c.ok !== undefined) {
        const f = await resolveAllowedFile(c.file(), dirs, fs);
        try {
          assert.equal(f.realPath, c.ok());
          assert.deepEqual(fs.opened, [c.ok()]);
          const st = await f.handle.stat();
          assert.equal(st.size, f.size);
          assert.ok(st.isFile());
        } finally {
          await f.handle.close();
        }
        return;
      }
      await assert.rejects(resolveAllowedFile(c.file(), dirs, fs), (e: unknown) => {
        assert.ok(isJpError(e, c.code), `expected ${c.code}, got ${String(e)}`);
        if (c.reason !== undefined) assert.match(e.message, c.reason);
        if (c.code === 'JP_PATH_NOT_ALLOWED' && dirs.length > 0) assert.ok(e.message.includes(dirs[0] as string), 'reason names the allowed dirs');
        return true;
      });
      assert.deepEqual(fs.opened, [], 'a refused file is never opened');
      assert.equal(classify(await resolveAllowedFile(c.file(), dirs, fs).catch((e: unknown) => e)).kind, 'giveup');
    });
  }

  it('refuses a file swapped for another between the check and the open', async () => {
    const swapped: PathFs = {
      ...nodePathFs,
      open: (p, flags) => ((flags & constants.O_DIRECTORY) !== 0 ? open(p, flags) : open(join(allowed, 'sub', 'dump2'), flags)),
    };
    await assert.rejects(resolveAllowedFile(join(allowed, 'dump'), [allowed], swapped), (e: unknown) => {
      assert.ok(isJpError(e, 'JP_PATH_NOT_ALLOWED'));
      assert.match(e.message, /replaced while being checked/);
      return true;
    });
  });

  it('refuses a final component replaced by a symlink before the open (O_NOFOLLOW)', async () => {
    const raced: PathFs = {
      ...nodePathFs,
      open: (p, flags) => nodePathFs.open((flags & constants.O_DIRECTORY) !== 0 ? p : join(allowed, 'link-in'), flags),
    };
    await assert.rejects(resolveAllowedFile(join(allowed, 'dump'), [allowed], raced), (e: unknown) => {
      assert.ok(isJpError(e, 'JP_PATH_NOT_ALLOWED'));
      assert.match(e.message, /replaced by a symlink/);
      return true;
    });
  });
});

describe('resolveAllowedFile against a racing parent directory (R11)', { timeout: 30_000 }, () => {
  /** allowed/sub/d (inside) and outside/d (outside, same relative name). */
  async function layout(): Promise<{ top: string; allowed: string; outside: string }> {
    const top = await realpath(await mkdtemp(join(tmpdir(), 'jp-race-')));
    const allowed = join(top, 'allowed');
    const outside = join(top, 'outside');
    await mkdir(join(allowed, 'sub'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(allowed, 'sub', 'd'), 'inside');
    await writeFile(join(outside, 'd'), 'OUTSIDE');
    return { top, allowed, outside };
  }

  it('a parent swapped for a symlink after the realpath check is refused, nothing outside opened', async (t) => {
    const { top, allowed, outside } = await layout();
    t.after(() => rm(top, { recursive: true, force: true }));
    const fs = spyFs();
    let swapped = false;
    const racing: PathFs = {
      ...fs,
      // The check has been made (realpath says inside); now swap the parent, before anything is opened.
      open: async (p, flags) => {
        if (!swapped) {
          swapped = true;
          await rename(join(allowed, 'sub'), join(allowed, 'sub-real'));
          await symlink(outside, join(allowed, 'sub'));
        }
        return fs.open(p, flags);
      },
    };
    await assert.rejects(resolveAllowedFile(join(allowed, 'sub', 'd'), [allowed], racing), (e: unknown) => {
      assert.ok(isJpError(e, 'JP_PATH_NOT_ALLOWED'), String(e));
      assert.match(e.message, /replaced by a symlink or a file while being checked/);
      return true;
    });
    assert.deepEqual(fs.opened, [], 'no file opened');
  });

  it('a directory moved out of the allowed tree after the walk opened it is refused before any read', async (t) => {
    const { top, allowed } = await layout();
    t.after(() => rm(top, { recursive: true, force: true }));
    const racing: PathFs = {
      ...nodePathFs,
      open: async (p, flags) => {
        if ((flags & constants.O_DIRECTORY) === 0) await rename(join(allowed, 'sub'), join(top, 'moved-out'));
        return nodePathFs.open(p, flags);
      },
    };
    await assert.rejects(resolveAllowedFile(join(allowed, 'sub', 'd'), [allowed], racing), (e: unknown) => {
      assert.ok(isJpError(e, 'JP_PATH_NOT_ALLOWED'), String(e));
      assert.match(e.message, /moved out of the allowed directories while being checked \(now ".*moved-out\/d"\)/);
      return true;
    });
  });

  it('a final component swapped for a symlink to the outside file is refused (lstat or O_NOFOLLOW)', async (t) => {
    const { top, allowed, outside } = await layout();
    t.after(() => rm(top, { recursive: true, force: true }));
    let swapped = false;
    const racing: PathFs = {
      ...nodePathFs,
      lstat: async (p) => {
        if (!swapped) {
          swapped = true;
          await rename(join(allowed, 'sub', 'd'), join(allowed, 'sub', 'd-real'));
          await symlink(join(outside, 'd'), join(allowed, 'sub', 'd'));
        }
        return nodePathFs.lstat(p);
      },
    };
    // the first lstat is resolveAllowedDirs' (the allowed dir itself); swap at the second
    let n = 0;
    const late: PathFs = { ...racing, lstat: (p) => (++n === 1 ? nodePathFs.lstat(p) : racing.lstat(p)) };
    await assert.rejects(resolveAllowedFile(join(allowed, 'sub', 'd'), [allowed], late), (e: unknown) => {
      assert.ok(isJpError(e, 'JP_PATH_NOT_ALLOWED'), String(e));
      assert.match(e.message, /replaced by a symlink while being checked/);
      return true;
    });
  });
});

describe('isInside', () => {
  const table: Array<[string, string, boolean]> = [
    ['/a/b', '/a', true],
    ['/a', '/a', true],
    ['/ab', '/a', false],
    ['/a/../b', '/a', true], // lexical only: callers pass resolved paths
    ['/x', '/', true],
    ['/', '/a', false],
  ];
  for (const [p, d, want] of table) {
    it(`${p} in ${d} → ${want}`, () => assert.equal(isInside(p, d), want));
  }
});
