/**
 * lb-dump-exporter: split an LB purge dump into one file per job and
 * announce each file (one message per job) to the JP importer's dump spool.
 * Exit 0 on success, 75 when another exporter holds the maildir or the dump
 * (nothing done), 1 on any other error; usage errors print the usage text.
 */
import v8 from 'node:v8';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { describeError } from '../core/errors.js';
import {
  DumpFile, EXIT_LOCKED, EXPORT_DEFAULTS, ExportFailure, ExportLocked, formatSummary, ProgressPrinter, runExport, type ExportFailureInfo,
} from '../exporter/index.js';

// More threads for the final fsync pass (must be set before the pool starts).
process.env.UV_THREADPOOL_SIZE ??= '16';
// Keep the heap close to the live data (P3: peak RSS <= 150 MiB on a 1 GiB
// dump): the young generation does not grow past its start size and the old
// generation grows by 20 % instead of up to 4x between full collections.
// Both flags are read by V8 at run time; unknown flags would be ignored.
v8.setFlagsFromString('--semi-space-growth-factor=1');
v8.setFlagsFromString('--heap-growing-percent=20');

const NAME = 'lb-dump-exporter';
const READ_CHUNK = 1024 * 1024;

function parseArgs(argv: string[]) {
  return yargs(argv)
    .scriptName(NAME)
    .usage(`Usage: $0 [-d FILE] [-s DIR] [-j HOST:PORT] [-m DIR] [-x] [options]

Split an LB purge dump (one ULM event per line, any order) into one file per
job in the store directory, then store one message per job in the LB maildir
for the JP importer. No message is stored unless every job file is complete,
the input ends with a newline and the dump did not change while it was read.
One exporter at a time per maildir and per dump: another one is refused.`)
    .option('dump', { alias: 'd', type: 'string', requiresArg: true, describe: 'dump file to read (default: standard input)' })
    .option('store', { alias: 's', type: 'string', requiresArg: true, default: '/tmp', describe: 'existing directory for the per-job files' })
    .option('jpps', { alias: 'j', type: 'string', requiresArg: true, describe: 'JP primary service HOST:PORT put into every message' })
    .option('lbmaildir', { alias: 'm', type: 'string', requiresArg: true, default: '/tmp/dumpinfo_lbmd', describe: 'maildir for the messages (created if missing)' })
    .option('mixed', { alias: 'x', type: 'boolean', default: false, describe: 'accepted for compatibility: any input order is handled' })
    .option('max-open', { type: 'number', requiresArg: true, default: EXPORT_DEFAULTS.maxOpen, describe: 'job files open at once' })
    .option('skip-bad-lines', { type: 'boolean', default: false, describe: 'skip and count unparsable lines instead of stopping' })
    .option('allow-partial', { type: 'boolean', default: false, describe: 'a last line without its newline is left out (reported) instead of refusing the dump' })
    .option('buffer-kib', { type: 'number', requiresArg: true, default: EXPORT_DEFAULTS.bufferBytes / 1024, describe: 'memory for lines not yet written, KiB' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress and no summary line' })
    .check((a) => {
      if (a._.length > 0) throw new Error(`unexpected argument ${JSON.stringify(String(a._[0]))}`);
      if (a.jpps !== undefined && !/^[^\s:]+(?::[^\s]*)?:\d{1,5}$/.test(a.jpps)) throw new Error(`--jpps must be HOST:PORT, got ${JSON.stringify(a.jpps)}`);
      if (!Number.isSafeInteger(a['max-open']) || a['max-open'] < 1) throw new Error(`--max-open must be a positive integer, got ${String(a['max-open'])}`);
      if (!Number.isSafeInteger(a['buffer-kib']) || a['buffer-kib'] < 4) throw new Error(`--buffer-kib must be an integer >= 4, got ${String(a['buffer-kib'])}`);
      return true;
    })
    .strict()
    .version(false)
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(100, process.stderr.columns ?? 80))
    .epilog(`Exit status: 0 success; 75 another exporter holds the maildir or the dump (nothing done, try
again later); 1 error (bad line, cut last line, dump changed while read, read/write error, usage).
Examples:
  $0 -d /var/lib/lb/dump/purge.log -s /var/spool/jp/dumps -m /var/spool/jp/dumpinfo_lbmd
  glite-lb-purge ... | $0 -s /var/spool/jp/dumps -j jp.example.org:8901 --skip-bad-lines`)
    .parseSync();
}

function failureHint(i: ExportFailureInfo): string {
  if (i.announced > 0) {
    return `${i.announced} of ${i.jobs} jobs were announced; the other job files in ${i.store} are complete but not announced`;
  }
  if (i.filesLeft === 0) return 'no job was announced';
  return `no job was announced; the ${i.filesLeft} job files written so far stay in ${i.store} (incomplete, not announced)`;
}

async function main(): Promise<number> {
  const args = parseArgs(hideBin(process.argv));
  const quiet = args.quiet;
  const progress = !quiet && process.stderr.isTTY ? new ProgressPrinter(process.stderr, `${NAME}: `) : undefined;
  let input: AsyncIterable<Uint8Array> = process.stdin;
  let inputName = 'standard input';
  let dump: DumpFile | undefined;
  try {
    if (args.dump !== undefined) {
      try {
        dump = await DumpFile.open(args.dump);
      } catch (e) {
        if (e instanceof ExportLocked) throw e;
        process.stderr.write(`${NAME}: cannot open dump file ${args.dump}: ${describeError(e)}\n`);
        return 1;
      }
      input = dump.chunks(READ_CHUNK);
      inputName = dump.name;
    }
    const summary = await runExport(input, {
      store: args.store,
      maildir: args.lbmaildir,
      ...(args.jpps !== undefined ? { jpps: args.jpps } : {}),
      maxOpen: args['max-open'],
      skipBadLines: args['skip-bad-lines'],
      allowPartial: args['allow-partial'],
      bufferBytes: args['buffer-kib'] * 1024,
      inputName,
      ...(progress !== undefined ? { onProgress: (p) => progress.update(p) } : {}),
    });
    progress?.clear();
    for (const b of summary.badLines) process.stderr.write(`${NAME}: line ${b.line}: ${b.reason} (skipped)\n`);
    if (summary.badLineCount > summary.badLines.length) {
      process.stderr.write(`${NAME}: ... and ${summary.badLineCount - summary.badLines.length} more bad lines (skipped)\n`);
    }
    const p = summary.partialLine;
    if (p !== undefined) {
      process.stderr.write(`${NAME}: ${inputName}: line ${p.line} (from byte offset ${p.offset}, ${p.bytes} bytes) has no newline: not exported (--allow-partial)\n`);
    }
    if (!quiet) process.stderr.write(`${NAME}: ${formatSummary(summary)}\n`);
    return 0;
  } catch (e) {
    progress?.clear();
    if (e instanceof ExportLocked) {
      process.stderr.write(`${NAME}: ${e.message}; not started\n`);
      return EXIT_LOCKED;
    }
    process.stderr.write(`${NAME}: ${e instanceof Error ? e.message : String(e)}\n`);
    if (e instanceof ExportFailure) process.stderr.write(`${NAME}: ${failureHint(e.info)}\n`);
    return 1;
  } finally {
    await dump?.close().catch(() => undefined);
  }
}

// Exit explicitly: after a failure standard input may still be open.
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${NAME}: ${describeError(e)}\n`);
    process.exit(1);
  },
);
