/**
 * `[task NAME]` sections of the importer's configuration file → TaskSpec[].
 * Pure (no file-system access): every key is checked, unknown keys are
 * refused so typos are caught, relative paths are resolved against the
 * configuration file's directory. Errors are JpError('JP_CONFIG') naming
 * the file, the section, the key, the rule and the value.
 *
 * [DEFAULT] keys are inherited as configparser does, but only keys the
 * task's action knows are taken from it: a [DEFAULT] key meant for another
 * section never makes a task invalid.
 */
import { dirname, resolve, sep } from 'node:path';
import { validate as cronValidate, validateDetailed as cronValidateDetailed } from 'node-cron';
import { JpError } from '../core/errors.js';
import { parseDuration } from '../config/duration.js';
import { parseIniBoolean, sectionView, type IniFile } from '../config/ini.js';
import { REQUEUE_AREAS, TASK_ACTIONS, type RequeueArea, type SpoolRef, type TaskAction, type TaskSpec } from './types.js';

export interface TaskContext {
  /** The importer's dump spool (default `lbmaildir` of export-dumps). */
  readonly dumpMdir: string;
  /** The importer's --store (default `dir` of prune-store). */
  readonly store: string | undefined;
  /** Every spool subtree the importer serves (clean-tmp, requeue). */
  readonly spools: readonly SpoolRef[];
  /**
   * The daemon's allowed directories (absolute). When given, export-dumps'
   * `store` must lie inside one of them, or the dump worker would refuse
   * every file the task announces.
   */
  readonly allowDirs?: readonly string[];
}

const COMMON_KEYS = ['schedule', 'action', 'timeout'] as const;
export const ACTION_KEYS: Readonly<Record<TaskAction, readonly string[]>> = {
  'export-dumps': ['dumps', 'store', 'lbmaildir', 'jpps', 'done', 'failed', 'skip-bad-lines'],
  'prune-store': ['dir', 'older-than'],
  'clean-tmp': ['older-than'],
  requeue: ['subtree', 'from'],
};

export const TASK_DEFAULTS = {
  pruneOlderThanMs: 30 * 86_400_000,
  cleanTmpOlderThanMs: 36 * 3_600_000,
} as const;

/** Longest `timeout` (a timer's limit is about 24.8 days). */
const MAX_TIMEOUT_MS = 24 * 86_400_000;

const TASK_SECTION = /^task(?:\s+(.*))?$/;

/** The task name of a section name, undefined when it is not a task section. */
export function taskSectionName(section: string): string | undefined {
  const m = TASK_SECTION.exec(section);
  return m === null ? undefined : (m[1] ?? '').trim();
}

/** Every `[task NAME]` section of `ini`, validated, in file order. */
export function parseTasks(ini: IniFile, file: string, ctx: TaskContext): TaskSpec[] {
  const out: TaskSpec[] = [];
  const seen = new Set<string>();
  for (const section of ini.sections.keys()) {
    const name = taskSectionName(section);
    if (name === undefined) continue;
    if (name === '') {
      throw new JpError('JP_CONFIG', `${file} [${section}]: a task section needs a name, as in [task export-dumps]`);
    }
    if (seen.has(name)) throw new JpError('JP_CONFIG', `${file} [${section}]: a second task named ${JSON.stringify(name)}`);
    seen.add(name);
    out.push(new SectionReader(ini, file, section, name).task(ctx));
  }
  return out;
}

class SectionReader {
  private readonly values: ReadonlyMap<string, string>;
  private readonly own: ReadonlyMap<string, string>;
  private readonly baseDir: string;
  readonly source: string;

  constructor(ini: IniFile, file: string, section: string, private readonly name: string) {
    this.values = sectionView(ini, section) ?? new Map();
    this.own = ini.sections.get(section) ?? new Map();
    this.baseDir = dirname(resolve(file));
    this.source = `${file} [task ${name}]`;
  }

  bad(key: string, value: string | undefined, rule: string): JpError {
    const got = value === undefined ? 'nothing' : JSON.stringify(value);
    return new JpError('JP_CONFIG', `${this.source} ${key}: ${rule}, got ${got}`);
  }

  get(key: string): string | undefined {
    return this.values.get(key);
  }

  required(key: string, rule: string): string {
    const v = this.get(key);
    if (v === undefined || v === '') throw this.bad(key, v, `is required (${rule})`);
    return v;
  }

  path(key: string, fallback?: string): string {
    const v = this.get(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw this.bad(key, v, 'is required (a directory path, absolute or relative to the configuration file)');
    }
    if (v === '' || v.includes('\0')) throw this.bad(key, v, 'must be a directory path');
    return resolve(this.baseDir, v);
  }

  duration(key: string, fallback: number | undefined, maxMs = Number.MAX_SAFE_INTEGER, maxText = ''): number | undefined {
    const v = this.get(key);
    if (v === undefined) return fallback;
    const ms = parseDuration(v);
    if (ms === undefined || ms <= 0 || ms > maxMs) throw this.bad(key, v, `must be a positive duration such as 30s, 5m, 36h or 30d${maxText}`);
    return ms;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.get(key);
    if (v === undefined) return fallback;
    const b = parseIniBoolean(v);
    if (b === undefined) throw this.bad(key, v, 'must be true or false (also yes/no, on/off, 1/0)');
    return b;
  }

  task(ctx: TaskContext): TaskSpec {
    const schedule = this.required('schedule', 'a cron expression of 5 or 6 fields');
    if (!cronValidate(schedule)) {
      const detail = cronValidateDetailed(schedule).errors.map((e) => e.message).join('; ');
      throw this.bad('schedule', schedule, `must be a cron expression of 5 or 6 fields (node-cron syntax)${detail === '' ? '' : `: ${detail}`}`);
    }
    const actionText = this.required('action', `one of ${TASK_ACTIONS.join(', ')}`);
    if (!(TASK_ACTIONS as readonly string[]).includes(actionText)) {
      throw this.bad('action', actionText, `must be one of ${TASK_ACTIONS.join(', ')}`);
    }
    const action = actionText as TaskAction;
    const known = [...COMMON_KEYS, ...ACTION_KEYS[action]];
    for (const [key, value] of this.own) {
      if (!known.includes(key)) throw this.bad(key, value, `unknown key for action ${action} (known keys: ${known.join(', ')})`);
    }
    const base = { name: this.name, schedule, overdueMs: this.duration('timeout', undefined, MAX_TIMEOUT_MS, ', at most 24d'), source: this.source };
    switch (action) {
      case 'export-dumps':
        return { ...base, action, ...this.exportDumps(ctx) };
      case 'prune-store': {
        const dir = this.path('dir', ctx.store);
        if (dir === sep) throw this.bad('dir', this.get('dir') ?? dir, 'must not be the root directory');
        return { ...base, action, dir, olderThanMs: this.duration('older-than', TASK_DEFAULTS.pruneOlderThanMs) as number };
      }
      case 'clean-tmp':
        return { ...base, action, spools: ctx.spools, olderThanMs: this.duration('older-than', TASK_DEFAULTS.cleanTmpOlderThanMs) as number };
      case 'requeue':
        return { ...base, action, ...this.requeue(ctx) };
    }
  }

  private exportDumps(ctx: TaskContext): Omit<Extract<TaskSpec, { action: 'export-dumps' }>, 'action' | 'name' | 'schedule' | 'overdueMs' | 'source'> {
    const dumps = this.path('dumps');
    const store = this.path('store');
    if (store === dumps) throw this.bad('store', this.get('store'), 'must not be the dumps directory (job files would be taken for dumps)');
    if (ctx.allowDirs !== undefined && !ctx.allowDirs.some((d) => inside(store, d))) {
      const dirs = ctx.allowDirs.length === 0 ? 'none configured, see allow-dir' : ctx.allowDirs.join(', ');
      throw this.bad('store', this.get('store'), `must be inside one of the daemon's allowed directories (${dirs})`);
    }
    const done = this.path('done', resolve(dumps, 'done'));
    const failed = this.path('failed', resolve(dumps, 'failed'));
    if (done === dumps) throw this.bad('done', this.get('done'), 'must not be the dumps directory');
    if (failed === dumps) throw this.bad('failed', this.get('failed'), 'must not be the dumps directory');
    if (failed === done) throw this.bad('failed', this.get('failed'), 'must differ from done');
    const jpps = this.get('jpps');
    if (jpps !== undefined && !validHostPort(jpps)) throw this.bad('jpps', jpps, 'must be HOST:PORT (port 1-65535)');
    return {
      dumps, store, done, failed, jpps,
      lbmaildir: this.path('lbmaildir', ctx.dumpMdir),
      skipBadLines: this.boolean('skip-bad-lines', false),
    };
  }

  private requeue(ctx: TaskContext): { spools: readonly SpoolRef[]; from: readonly RequeueArea[] } {
    const names = ctx.spools.map((s) => s.name);
    const subtree = this.get('subtree') ?? 'all';
    let spools: readonly SpoolRef[];
    if (subtree === 'all') {
      spools = ctx.spools;
    } else {
      const one = ctx.spools.find((s) => s.name === subtree);
      if (one === undefined) throw this.bad('subtree', subtree, `must be one of ${[...names, 'all'].join(', ')}`);
      spools = [one];
    }
    const fromText = this.get('from') ?? 'undeliverable';
    let from: readonly RequeueArea[];
    if (fromText === 'both') from = REQUEUE_AREAS;
    else if ((REQUEUE_AREAS as readonly string[]).includes(fromText)) from = [fromText as RequeueArea];
    else throw this.bad('from', fromText, 'must be one of undeliverable, post, both');
    return { spools, from };
  }
}

function validHostPort(v: string): boolean {
  const m = /^([^\s/]+):(\d{1,5})$/.exec(v);
  if (m === null) return false;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535;
}

/** Lexical containment of absolute, normalised paths. */
function inside(path: string, dir: string): boolean {
  const d = resolve(dir);
  if (d === sep) return true;
  return path === d || path.startsWith(d + sep);
}
