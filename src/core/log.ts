/**
 * pino loggers: JSON lines by default (service managers, log shippers),
 * readable colourless-or-coloured text with `-g`. Workers get a child
 * logger carrying their kind and pid; every message outcome is one line.
 */
import { pino, type Bindings, type ChildLoggerOptions, type Logger, type DestinationStream } from 'pino';
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

/** The key of a line's message text (pino's default, also read by pino-pretty for -g). */
export const MESSAGE_KEY = 'msg';

/**
 * Keys pino writes on every line itself. A log call's object or a child
 * binding must not use them: pino would write the key twice and JSON readers
 * keep only the last value (test/core/log-keys.test.ts checks src/). A
 * message's id is `id`, as in the outcome lines.
 */
export const LINE_KEYS = ['level', 'time', 'pid', 'hostname', 'name', MESSAGE_KEY] as const;

/** Keys whose values are never written to logs (`*.x`: x one level down, in any top-level object). */
export const REDACT = ['pwd', 'password', 'key', 'passphrase', '*.pwd', '*.password', '*.passphrase', 'url'];
const CENSOR = '[redacted]';
/** Top-level paths: pino's redact, which costs nothing for a line without them. */
const REDACT_TOP = REDACT.filter((p) => !p.startsWith('*.'));
/**
 * One level down: pino would run its redactor on every value of every line
 * for these (µs and kB of garbage per line, most of a delivered message's
 * log cost); censorNested only copies a line that holds such a key.
 */
const REDACT_NESTED = REDACT.filter((p) => p.startsWith('*.')).map((p) => p.slice(2));

/** `obj` with the REDACT_NESTED keys of its object values censored (a copy if any; `obj` itself is never changed). */
export function censorNested(obj: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
    let copy: Record<string, unknown> | undefined;
    for (const secret of REDACT_NESTED) {
      if (Object.hasOwn(v, secret)) {
        copy ??= { ...(v as Record<string, unknown>) };
        copy[secret] = CENSOR;
      }
    }
    if (copy !== undefined) (out ??= { ...obj })[k] = copy;
  }
  return out ?? obj;
}

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
    messageKey: MESSAGE_KEY,
    redact: { paths: REDACT_TOP, censor: CENSOR },
    formatters: { log: censorNested, bindings: censorNested },
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
      messageKey: MESSAGE_KEY,
      destination: opts.file ?? 2,
      append: true,
    });
  } else {
    const sonic = pino.destination({ dest: opts.file ?? 2, sync: true, append: true, mkdir: true });
    if (opts.file !== undefined) reopen = () => sonic.reopen();
    dest = sonic;
  }
  return { logger: censoringChildren(pino(base, dest)), reopen };
}

/**
 * pino applies formatters.bindings to the root logger only: censor the
 * bindings of every child (and grandchild: they inherit this child()) too.
 */
function censoringChildren(logger: Logger): Logger {
  const child = logger.child;
  logger.child = function censoredChild<L extends string = never>(this: Logger, bindings: Bindings, options?: ChildLoggerOptions<L>): Logger<L> {
    return child.call<Logger, [Bindings, ChildLoggerOptions<L> | undefined], Logger<L>>(this, censorNested(bindings), options);
  };
  return logger;
}

/** A logger that drops everything (tests, library use without a logger). */
export const silentLogger: Logger = pino({ level: 'silent' });
