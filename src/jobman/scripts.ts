/**
 * `<scripts dir>/<sql>.sql`, read, split and translated once and kept until
 * the file changes (inode, size, mtime or ctime differ; checked at each use). A script must
 * resolve (symlinks included) to a regular file inside the scripts directory.
 */
import { promises as fsp, realpathSync, statSync, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { describeError, JpError, systemCode } from '../core/errors.js';
import type { DriverName } from './config-types.js';
import { badScriptName } from './request.js';
import { compileScript, SqlTextError, type CompiledStatement } from './sqltext.js';

export interface LoadedScript {
  readonly name: string;
  readonly path: string;
  readonly statements: readonly CompiledStatement[];
}

interface Entry {
  readonly key: string;
  readonly script: LoadedScript;
}

const refuse = (msg: string): JpError => new JpError('JP_BAD_REQUEST', msg, { temporary: false });

export class ScriptCache {
  readonly dir: string;
  private readonly dialect: DriverName;
  private readonly entries = new Map<string, Entry>();
  private realDir: string | undefined;

  constructor(dir: string, dialect: DriverName) {
    this.dir = dir;
    this.dialect = dialect;
  }

  async get(name: string): Promise<LoadedScript> {
    const why = badScriptName(name);
    if (why !== undefined) throw refuse(`unknown script ${JSON.stringify(name)}: ${why}`);
    const dir = await this.resolvedDir();
    const path = join(dir, `${name}.sql`);
    let real: string;
    let st: Stats;
    try {
      // Synchronous on purpose: two local syscalls per step, cheaper than two thread-pool round trips.
      real = realpathSync.native(path);
      st = statSync(real);
    } catch (e) {
      if (systemCode(e) === 'ENOENT' || systemCode(e) === 'ENOTDIR' || systemCode(e) === 'ELOOP') {
        throw refuse(`unknown script ${JSON.stringify(name)}: no file ${path}`);
      }
      throw new JpError('JP_CONFIG', `cannot read script ${path}: ${describeError(e)}`, { cause: e });
    }
    if (!real.startsWith(dir + sep)) throw refuse(`script ${JSON.stringify(name)} resolves outside ${dir}`);
    if (!st.isFile()) throw refuse(`script ${path} is not a regular file`);
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    const cached = this.entries.get(name);
    if (cached !== undefined && cached.key === key) return cached.script;
    let text: string;
    try {
      text = await fsp.readFile(real, 'utf8');
    } catch (e) {
      throw new JpError('JP_CONFIG', `cannot read script ${path}: ${describeError(e)}`, { cause: e });
    }
    let statements: CompiledStatement[];
    try {
      statements = compileScript(text, this.dialect);
    } catch (e) {
      if (e instanceof SqlTextError) throw refuse(`script ${path}: ${e.message}`);
      throw e;
    }
    if (statements.length === 0) throw refuse(`script ${path} holds no statement`);
    const script: LoadedScript = { name, path, statements };
    this.entries.set(name, { key, script });
    return script;
  }

  private async resolvedDir(): Promise<string> {
    if (this.realDir !== undefined) return this.realDir;
    try {
      this.realDir = await fsp.realpath(this.dir);
    } catch (e) {
      throw new JpError('JP_CONFIG', `scripts directory ${this.dir}: ${describeError(e)}`, { cause: e });
    }
    return this.realDir;
  }
}
