/**
 * pino loggers: JSON lines by default (service managers, log shippers),
 * readable colourless-or-coloured text with `-g`. Workers get a child
 * logger carrying their kind and pid; every message outcome is one line.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';

/** pino-pretty is loaded only for readable output (-g): the JSON path stays small. */
const loadPretty = (): typeof PinoPretty => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;

export type { Logger } from 'pino';

export interface LogOptions {
  /** 'json' (default) or 'pretty' (readable, for -g). */
  format?: 'json' | 'pretty';
  level?: string;
  /** Append to this file instead of stderr. */
  file?: string;
  name?: string;
}

/** Keys whose values are never written to logs. */
export const REDACT = ['pwd', 'password', 'key', 'passphrase', '*.pwd', '*.password', '*.passphrase', 'url'];

export interface Logging {
  readonly logger: Logger;
  /** Reopen the log file (after rotation, on SIGHUP); a no-op for stderr and -g output. */
  reopen(): void;
}

export function createLogger(opts: LogOptions = {}): Logger {
  return createLogging(opts).logger;
}

export function createLogging(opts: LogOptions = {}): Logging {
  const base = {
    name: opts.name ?? 'jp-importer',
    level: opts.level ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  let dest: DestinationStream;
  let reopen = (): void => undefined;
  if (opts.format === 'pretty') {
    dest = loadPretty()({
      sync: true,
      colorize: opts.file === undefined && process.stderr.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'hostname,pid,name',
      singleLine: true,
      destination: opts.file ?? 2,
      append: true,
    });
  } else {
    const sonic = pino.destination({ dest: opts.file ?? 2, sync: true, append: true, mkdir: true });
    if (opts.file !== undefined) reopen = () => sonic.reopen();
    dest = sonic;
  }
  return { logger: pino(base, dest), reopen };
}

/** A logger that drops everything (tests, library use without a logger). */
export const silentLogger: Logger = pino({ level: 'silent' });
