/** The validated jobman configuration (see config.ts for the file format). */

export type DriverName = 'sqlite' | 'postgres' | 'mysql';
export const DRIVER_NAMES: readonly DriverName[] = ['sqlite', 'postgres', 'mysql'];

/** `DAPHNE_ENV=PRODUCT` → product, anything else → develop. */
export type DaphneEnv = 'product' | 'develop';

/** Where a database lives: a file for SQLite, a connection URL otherwise. */
export type DbTarget =
  | { readonly driver: 'sqlite'; readonly file: string }
  | { readonly driver: 'postgres' | 'mysql'; readonly url: string };

export interface DestinationConfig {
  /** Name of the config section (for messages). */
  readonly section: string;
  readonly target: DbTarget;
  /** Directory holding `<sql>.sql` scripts (key `env`). */
  readonly scriptsDir: string;
  /** Commit after each successful row instead of once per request. */
  readonly rowcommit: boolean;
}

export interface ResultDbConfig {
  /** Section the settings came from (resultdb_sqlite3, resultdb_mysql, resultdb_postgres). */
  readonly section: string;
  readonly target: DbTarget;
  /** Results table (default `messages`, as in jobman). */
  readonly table: string;
}

export interface ClientConfig {
  /** URL the request is posted to as form field `params`. */
  readonly postUrl: string;
}

export type JobmanMode = 'run' | 'client';

export interface JobmanConfig {
  /** Absolute path of the config file. */
  readonly file: string;
  /** Its directory: relative paths are resolved against it. */
  readonly dir: string;
  readonly env: DaphneEnv;
  /** `run` executes requests; `client` forwards them to [client] postURL. */
  readonly mode: JobmanMode;
  readonly iqueue: string;
  readonly oqueue: string;
  readonly equeue: string;
  /** Sub-folder inside the three queues (default `00`). */
  readonly sub: string;
  /** Where claimed and retrying requests wait (outside iqueue, which jobman scans). */
  readonly statedir: string;
  /** Present when mode is `run`. */
  readonly destination: DestinationConfig | undefined;
  readonly resultdb: ResultDbConfig;
  /** Present when a [client] postURL is configured. */
  readonly client: ClientConfig | undefined;
}
