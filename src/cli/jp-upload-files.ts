/**
 * jp-upload-files: pack files into a tar and queue it for upload to the JP
 * primary service as the sandbox of a job (uploadFiles()). Prints the id
 * of the stored message. Exit 0 on success, 1 on any error.
 */
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_SPOOL_ROOT } from '../config/paths.js';
import { defaultTarDir, uploadFiles } from '../upload-api/index.js';

const NAME = 'jp-upload-files';
const DEFAULT_MAILDIR = join(DEFAULT_SPOOL_ROOT, 'sandbox');

function parseArgs(argv: string[]) {
  return yargs(argv)
    .scriptName(NAME)
    .usage(`Usage: $0 [-p PROXY] -j JOBID [-m MAILDIR] [-s HOST:PORT] [--tar-dir DIR] FILE...

Pack FILEs into one tar file and queue it in the importer's sandbox maildir
for upload to the JP primary service. Prints the id of the queued message.`)
    .option('proxy', { alias: 'p', type: 'string', requiresArg: true, describe: 'proxy credential written into the message (default: $X509_USER_PROXY)' })
    .option('jobid', { alias: 'j', type: 'string', requiresArg: true, demandOption: true, describe: 'job id (https://lb.example.org:9000/...)' })
    .option('maildir', { alias: 'm', type: 'string', requiresArg: true, default: DEFAULT_MAILDIR, describe: "the importer's sandbox maildir" })
    .option('jpps', { alias: 's', type: 'string', requiresArg: true, describe: 'JP primary service HOST:PORT (default: the importer\'s)' })
    .option('tar-dir', { type: 'string', requiresArg: true, describe: 'directory for the tar files (default: sandbox-tars beside the maildir)' })
    .check((a) => {
      if (a._.length === 0) throw new Error('no FILE given');
      return true;
    })
    .parserConfiguration({ 'parse-positional-numbers': false })
    .strictOptions()
    .version(false)
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(100, process.stderr.columns ?? 80))
    .epilog(`Exit status: 0 success (message id on standard output), 1 error.
Example:
  $0 -j https://lb.example.org:9000/AbCdEf -m /var/spool/jp/sandbox out.txt err.txt`)
    .parseSync();
}

async function main(): Promise<number> {
  const args = parseArgs(hideBin(process.argv));
  const files = args._.map(String);
  const proxy = args.proxy ?? process.env['X509_USER_PROXY'];
  const tarDir = args['tar-dir'] ?? defaultTarDir(args.maildir);
  try {
    const id = await uploadFiles(args.jobid, files, {
      maildir: args.maildir,
      tarDir,
      ...(proxy !== undefined && proxy !== '' ? { proxy } : {}),
      ...(args.jpps !== undefined ? { jpps: args.jpps } : {}),
    });
    process.stdout.write(`${id}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${NAME}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

// Stays 1 unless main() finishes successfully (also if it never settles).
process.exitCode = 1;
main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${NAME}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
