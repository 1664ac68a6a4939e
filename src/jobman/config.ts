/**
 * jobman's config.ini → JobmanConfig. One validation place; every error is a
 * JpError JP_CONFIG naming the file, section, key, (masked) value and rule.
 *
 * [DEFAULT]  destination, resultdb (sqlite3|mysql|postgres), iqueue, oqueue,
 *            equeue, sub (default 00), statedir, mode (run|client)
 * [<destination>]  driver (sqlite|postgres|mysql), url, env (scripts folder),
 *            rowcommit; for postgres/mysql also usr, pwd, host_<env>, port, dbs
 * [resultdb_sqlite3] file   [resultdb_mysql] host_<env> usr pwd dbs | url
 * [resultdb_postgres] url   (all three: table, default messages)
 * [client]   postURL_<env> | postURL
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { describeError, JpError } from '../core/errors.js';
import type {
  ClientConfig, DaphneEnv, DbTarget, DestinationConfig, DriverName, JobmanConfig, JobmanMode, ResultDbConfig,
} from './config-types.js';
import { DRIVER_NAMES } from './config-types.js';
import { DEFAULT_SECTION, parseIniBoolean, parseIniFile, sectionView, type IniFile } from '../config/ini.js';

export type { JobmanConfig } from './config-types.js';

export type EnvLike = Readonly<Record<string, string | undefined>>;

export const DEFAULT_SUB = '00';
export const DEFAULT_RESULTS_TABLE = 'messages';
const SUB_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;
const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const SECRET_KEYS = new Set(['pwd', 'password']);

export function daphneEnv(env: EnvLike): DaphneEnv {
  return env['DAPHNE_ENV'] === 'PRODUCT' ? 'product' : 'develop';
}

/** A URL with its password replaced, for messages. */
export function maskUrl(text: string): string {
  try {
    const u = new URL(text);
    if (u.password !== '') u.password = '***';
    return u.href;
  } catch {
    return text.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

class Ctx {
  constructor(readonly file: string, readonly dir: string, readonly ini: IniFile, readonly env: DaphneEnv) {}

  fail(section: string, key: string, value: string | undefined, rule: string): never {
    const shown = value === undefined ? 'is missing' : `= ${JSON.stringify(this.mask(key, value))}`;
    throw new JpError('JP_CONFIG', `${this.file}: [${section}] ${key} ${shown}: ${rule}`);
  }

  mask(key: string, value: string): string {
    if (SECRET_KEYS.has(key)) return '***';
    return key.startsWith('url') || key.startsWith('posturl') ? maskUrl(value) : value;
  }

  view(section: string): ReadonlyMap<string, string> | undefined {
    return sectionView(this.ini, section);
  }

  /** `<key>_<env>` when present, else `<key>`: [key used, value]. */
  envKey(v: ReadonlyMap<string, string>, key: string): [string, string] | undefined {
    const k = `${key}_${this.env}`;
    const a = v.get(k);
    if (a !== undefined && a !== '') return [k, a];
    const b = v.get(key);
    return b !== undefined && b !== '' ? [key, b] : undefined;
  }

  path(value: string): string {
    return isAbsolute(value) ? value : resolve(this.dir, value);
  }
}

/** Read and validate a config file. `env` supplies DAPHNE_ENV. */
export function loadJobmanConfig(path: string, env: EnvLike = process.env): JobmanConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new JpError('JP_CONFIG', `${file}: cannot read the jobman config file: ${describeError(e)}`, { cause: e });
  }
  return parseJobmanConfig(text, file, env);
}

/** Validate config text as if read from `file` (absolute). Pure apart from path resolution. */
export function parseJobmanConfig(text: string, file: string, env: EnvLike = process.env): JobmanConfig {
  const ini = parseIniFile(text, file);
  const ctx: Ctx = new Ctx(file, dirname(file), ini, daphneEnv(env));
  const d = ini.defaults;
  const modeText = d.get('mode') ?? 'run';
  let mode: JobmanMode;
  if (modeText === 'run' || modeText === 'server') mode = 'run';
  else if (modeText === 'client') mode = 'client';
  else ctx.fail(DEFAULT_SECTION, 'mode', modeText, 'must be run or client');

  const sub = d.get('sub') ?? DEFAULT_SUB;
  if (!SUB_RE.test(sub) || sub === '.' || sub === '..') {
    ctx.fail(DEFAULT_SECTION, 'sub', sub, 'must be one folder name (letters, digits, . _ -)');
  }
  const queue = (key: string): string => {
    const v = d.get(key) ?? key;
    if (v === '') ctx.fail(DEFAULT_SECTION, key, v, 'must be a directory path');
    return ctx.path(v);
  };
  const iqueue = queue('iqueue');
  const oqueue = queue('oqueue');
  const equeue = queue('equeue');
  const statedirText = d.get('statedir');
  const statedir = statedirText === undefined || statedirText === '' ? join(dirname(iqueue), '.jp-jobman') : ctx.path(statedirText);

  const client = readClient(ctx);
  if (mode === 'client' && client === undefined) {
    ctx.fail('client', `posturl_${ctx.env}`, undefined, 'mode = client needs [client] postURL_product/postURL_develop or postURL');
  }
  const destination = mode === 'run' ? readDestination(ctx) : undefined;
  const resultdb = readResultDb(ctx, iqueue, sub);
  return { file, dir: ctx.dir, env: ctx.env, mode, iqueue, oqueue, equeue, sub, statedir, destination, resultdb, client };
}

function readDestination(ctx: Ctx): DestinationConfig {
  const name = ctx.ini.defaults.get('destination');
  if (name === undefined || name === '') {
    ctx.fail(DEFAULT_SECTION, 'destination', name, 'names the section that describes the destination database');
  }
  const v = ctx.view(name);
  if (v === undefined || name === DEFAULT_SECTION) {
    ctx.fail(DEFAULT_SECTION, 'destination', name, `there is no section [${name}] in the file`);
  }
  const driverText = v.get('driver');
  if (driverText === undefined || driverText === '') {
    const oracle = [...v.keys()].some((k) => k.startsWith('tns'));
    ctx.fail(name, 'driver', undefined, `required: sqlite | postgres | mysql${oracle ? ' (the Oracle form with tns_* is not supported)' : ''}`);
  }
  if (!(DRIVER_NAMES as readonly string[]).includes(driverText)) {
    ctx.fail(name, 'driver', driverText, 'must be sqlite, postgres or mysql');
  }
  const driver = driverText as DriverName;
  const target = dbTarget(ctx, name, v, driver);
  const scripts = v.get('env') ?? name;
  if (scripts === '') ctx.fail(name, 'env', scripts, 'names the folder of the SQL scripts');
  const rcText = v.get('rowcommit') ?? 'false';
  const rowcommit = parseIniBoolean(rcText);
  if (rowcommit === undefined) ctx.fail(name, 'rowcommit', rcText, 'must be True or False (also yes/no, on/off, 1/0)');
  return { section: name, target, scriptsDir: ctx.path(scripts), rowcommit };
}

function dbTarget(ctx: Ctx, section: string, v: ReadonlyMap<string, string>, driver: DriverName): DbTarget {
  if (driver === 'sqlite') {
    const u = ctx.envKey(v, 'url') ?? ctx.envKey(v, 'file');
    if (u === undefined) ctx.fail(section, 'url', undefined, 'driver = sqlite needs url = <path of the database file>');
    const path = u[1].startsWith('sqlite:') ? u[1].slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : u[1];
    if (path === '' || path === ':memory:') ctx.fail(section, u[0], u[1], 'must be the path of a database file');
    return { driver, file: ctx.path(path) };
  }
  return { driver, url: serverUrl(ctx, section, v, driver) };
}

const SCHEMES: Record<'postgres' | 'mysql', readonly string[]> = {
  postgres: ['postgres:', 'postgresql:'],
  mysql: ['mysql:', 'mariadb:'],
};

/** url (+ usr, pwd, host_<env>, port, dbs applied over it), validated. */
function serverUrl(ctx: Ctx, section: string, v: ReadonlyMap<string, string>, driver: 'postgres' | 'mysql'): string {
  const urlKey = ctx.envKey(v, 'url');
  const host = ctx.envKey(v, 'host');
  let u: URL;
  if (urlKey !== undefined) {
    try {
      u = new URL(urlKey[1]);
    } catch {
      ctx.fail(section, urlKey[0], urlKey[1], `is not a URL (expected ${driver}://user@host:port/database)`);
    }
    if (!SCHEMES[driver].includes(u.protocol)) {
      ctx.fail(section, urlKey[0], urlKey[1], `must start with ${SCHEMES[driver].map((s) => s + '//').join(' or ')}`);
    }
    if (u.protocol === 'mariadb:') u = new URL('mysql:' + u.href.slice('mariadb:'.length));
  } else if (host !== undefined) {
    u = new URL(`${driver}://localhost`);
  } else {
    ctx.fail(section, 'url', undefined, `driver = ${driver} needs url = ${driver}://… or host_product/host_develop`);
  }
  if (host !== undefined) {
    if (!/^[A-Za-z0-9.\-[\]:]+$/.test(host[1])) ctx.fail(section, host[0], host[1], 'must be a host name or address, optionally with :port');
    u.host = host[1];
  }
  const port = v.get('port');
  if (port !== undefined && port !== '') {
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) ctx.fail(section, 'port', port, 'must be a port number');
    u.port = port;
  }
  const enc = (key: string, value: string): string => {
    if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)) ctx.fail(section, key, key === 'pwd' ? undefined : value, 'must be valid text (no lone surrogates)');
    return encodeURIComponent(value);
  };
  const usr = v.get('usr');
  if (usr !== undefined && usr !== '') u.username = enc('usr', usr);
  const pwd = v.get('pwd');
  if (pwd !== undefined && pwd !== '') u.password = enc('pwd', pwd);
  const dbs = v.get('dbs') ?? v.get('database');
  if (dbs !== undefined && dbs !== '') u.pathname = '/' + enc('dbs', dbs);
  if (u.hostname === '') ctx.fail(section, urlKey?.[0] ?? 'url', urlKey?.[1], 'names no host');
  if (u.pathname.replace(/^\//, '') === '') {
    ctx.fail(section, 'dbs', undefined, 'no database name: set dbs = … or put it in the url path');
  }
  return u.href;
}

function readResultDb(ctx: Ctx, iqueue: string, sub: string): ResultDbConfig {
  const kindText = ctx.ini.defaults.get('resultdb') ?? 'sqlite3';
  const kind = { sqlite3: 'sqlite', sqlite: 'sqlite', mysql: 'mysql', mariadb: 'mysql', postgres: 'postgres', postgresql: 'postgres' }[
    kindText.toLowerCase()
  ] as DriverName | undefined;
  if (kind === undefined) ctx.fail(DEFAULT_SECTION, 'resultdb', kindText, 'must be sqlite3, mysql or postgres');
  const section = kind === 'sqlite' ? 'resultdb_sqlite3' : `resultdb_${kind}`;
  const v = ctx.view(section);
  const table = v?.get('table') ?? DEFAULT_RESULTS_TABLE;
  if (!TABLE_RE.test(table)) ctx.fail(section, 'table', table, 'must be an SQL identifier (letters, digits, _)');
  if (kind === 'sqlite') {
    const f = v?.get('file');
    const file = f === undefined || f === '' ? join(iqueue, `${sub}_log.db`) : ctx.path(f);
    return { section, target: { driver: 'sqlite', file }, table };
  }
  if (v === undefined || !ctx.ini.sections.has(section)) {
    ctx.fail(DEFAULT_SECTION, 'resultdb', kindText, `needs a [${section}] section`);
  }
  return { section, target: { driver: kind, url: serverUrl(ctx, section, v, kind) }, table };
}

function readClient(ctx: Ctx): ClientConfig | undefined {
  const v = ctx.view('client');
  if (v === undefined || !ctx.ini.sections.has('client')) return undefined;
  const u = ctx.envKey(v, 'posturl');
  if (u === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(u[1]);
  } catch {
    ctx.fail('client', u[0], u[1], 'is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.fail('client', u[0], u[1], 'must be an http:// or https:// URL');
  return { postUrl: url.href };
}

/** A DbTarget for messages and logs (password masked). */
export function describeTarget(t: DbTarget): string {
  return t.driver === 'sqlite' ? `sqlite ${t.file}` : `${t.driver} ${maskUrl(t.url)}`;
}
