/**
 * jp-primary-dev: run the reference JP primary service (see
 * src/primary-dev). Prints one JSON line to stdout when ready, e.g.
 * {"listening":{"https":"127.0.0.1:40123","ftp":"127.0.0.1:40124"},...};
 * SIGTERM/SIGINT close it cleanly (exit 0).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { describeError, JpError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { startPrimaryDev, type DevHooks } from '../primary-dev/index.js';
import { REPLY_SHAPES, type ReplyShape } from '../primary-dev/soap-server.js';
import { hostPort } from '../primary-dev/addresses.js';

const flags = {
  listen: { type: 'string', default: '127.0.0.1:8900', describe: 'HTTPS (SOAP + admin) address host:port; port 0 = any free port' },
  c: { alias: 'cert', type: 'string', default: 'certs/server.pem', describe: 'server certificate (PEM)' },
  k: { alias: 'key', type: 'string', default: 'certs/server-key.pem', describe: 'server private key (PEM)' },
  C: { alias: 'CAdir', type: 'string', default: 'certs/ca', describe: 'CA directory (or PEM bundle) trusted for client certificates' },
  'data-dir': { type: 'string', default: 'primary-dev-data', describe: 'state.json, calls.jsonl and files/ (the FTP root) live here' },
  'ftp-listen': { type: 'string', describe: 'also run the FTP upload endpoint on host:port (port 0 = any)' },
  ftps: { type: 'boolean', default: false, describe: 'FTP endpoint with implicit TLS; destinations are ftps://' },
  'ftp-require-cert': { type: 'boolean', default: false, describe: 'with --ftps: refuse FTP clients without a certificate from the CA directory' },
  'reply-shape': { type: 'string', default: 'gsoap', describe: 'replies as the real gSOAP service writes them (gsoap) or the port\'s earlier compact shape (compact)' },
  'destination-base': { type: 'string', describe: 'without --ftp-listen: base URL of upload destinations (an FTP server serving <data-dir>/files)' },
  'gridftp-url': {
    type: 'string',
    describe:
      'hand out gsiftp:// destinations like the real service: <URL>/data/<md5 of owner DN>/<regtime/604800>/<job unique>/<class>[.<name>] ' +
      'for a GridFTP server (e.g. gsiftp://localhost:2811/srv/jpps) whose grid-mapfile maps the importer to the user running this service; ' +
      'job directories are made (mode 0700) at RegisterJob; CommitUpload wants the file there and not empty',
  },
  'gridftp-dir': { type: 'string', describe: "with --gridftp-url: the directory on this machine the URL's path names [the URL's path]" },
  'fail-next': { type: 'string', describe: 'answer the first N SOAP calls with a fault' },
  'fail-code': { type: 'string', describe: 'errno of injected faults [11 = EAGAIN]' },
  'latency-ms': { type: 'string', describe: 'delay every SOAP answer by this many ms' },
  'close-next': { type: 'string', describe: 'drop the connection without answering for the first N SOAP calls' },
  'upload-window-ms': { type: 'string', describe: 'cap on an upload\'s commitBefore; until then StartUpload of the same file is refused (EEXIST) [300000, as the real service]' },
  'log-level': { type: 'string', default: 'info', describe: 'fatal|error|warn|info|debug|trace|silent (logs go to stderr)' },
  pretty: { type: 'boolean', default: false, describe: 'readable logs instead of JSON lines' },
} as const;

function replyShapeOf(v: unknown): ReplyShape {
  const hit = REPLY_SHAPES.find((x) => x === v);
  if (hit === undefined) throw new JpError('JP_CONFIG', `--reply-shape: must be one of ${REPLY_SHAPES.join(', ')}, got ${JSON.stringify(v)}`);
  return hit;
}

function count(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!/^\d{1,9}$/.test(s)) throw new JpError('JP_CONFIG', `--${flag} ${JSON.stringify(s)}: expected a non-negative integer`);
  return Number(s);
}

async function main(): Promise<number> {
  const raw = (await yargs(hideBin(process.argv))
    .scriptName('jp-primary-dev')
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .usage('$0 [options]\n\nReference JP primary service (SOAP over mutual TLS) for tests and local runs.')
    .options(flags)
    .example('$0 --listen 127.0.0.1:8900 --ftp-listen 127.0.0.1:2121 --ftps', 'local service with an FTPS upload endpoint, dev certs from certs/')
    .example('$0 --listen 127.0.0.1:0 --data-dir /tmp/jp --fail-next 3', 'any free port; the first 3 calls fault with EAGAIN')
    .example('$0 --gridftp-url gsiftp://localhost:2811/srv/jpps', 'destinations for a globus-gridftp-server on port 2811 serving /srv/jpps (see docs/primary-dev.md)')
    .help('h')
    .alias('h', 'help')
    .version(false)
    .strict()
    .fail((msg, err) => {
      process.stderr.write(`jp-primary-dev: ${err?.message ?? msg}\nRun 'jp-primary-dev --help' for the options.\n`);
      process.exit(1);
    })
    .parseAsync()) as Record<string, unknown>;

  const hooks: Partial<DevHooks> = {};
  const failNext = count(raw['fail-next'], 'fail-next');
  const failCode = count(raw['fail-code'], 'fail-code');
  const latencyMs = count(raw['latency-ms'], 'latency-ms');
  const closeNext = count(raw['close-next'], 'close-next');
  const uploadWindowMs = count(raw['upload-window-ms'], 'upload-window-ms');
  if (failNext !== undefined) Object.assign(hooks, { failNext });
  if (failCode !== undefined) {
    if (failCode === 0) throw new JpError('JP_CONFIG', '--fail-code must be an errno value > 0');
    Object.assign(hooks, { failCode });
  }
  if (latencyMs !== undefined) Object.assign(hooks, { latencyMs });
  if (closeNext !== undefined) Object.assign(hooks, { closeNext });

  const logger = createLogger({ name: 'jp-primary-dev', level: String(raw['log-level']), format: raw['pretty'] === true ? 'pretty' : 'json' });
  const dev = await startPrimaryDev({
    listen: String(raw['listen']),
    certFile: String(raw['cert']),
    keyFile: String(raw['key']),
    caPath: String(raw['CAdir']),
    dataDir: String(raw['data-dir']),
    ...(raw['ftp-listen'] !== undefined ? { ftpListen: String(raw['ftp-listen']) } : {}),
    ftps: raw['ftps'] === true,
    replyShape: replyShapeOf(raw['reply-shape']),
    ftpRequireClientCert: raw['ftp-require-cert'] === true,
    ...(uploadWindowMs !== undefined ? { uploadWindowMs } : {}),
    ...(raw['destination-base'] !== undefined ? { destinationBase: String(raw['destination-base']) } : {}),
    ...(raw['gridftp-url'] !== undefined ? { gridftpUrl: String(raw['gridftp-url']) } : {}),
    ...(raw['gridftp-dir'] !== undefined ? { gridftpDir: String(raw['gridftp-dir']) } : {}),
    hooks,
    logger,
  });

  const listening: Record<string, string> = { https: hostPort(dev.host, dev.httpsPort) };
  if (dev.ftpPort !== undefined) {
    const ftpHost = String(raw['ftp-listen']).replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    listening['ftp'] = hostPort(ftpHost, dev.ftpPort);
  }
  const gridftp = dev.gridftp === undefined ? {} : { gridftp: { url: dev.gridftp.url, dir: dev.gridftp.dir } };
  // Signal handlers first: whoever reads the ready line may send SIGTERM at once.
  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        process.stderr.write(`jp-primary-dev: second ${signal}, exiting now\n`);
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'jp-primary-dev: closing');
      dev.close().then(
        () => resolve(0),
        (e: unknown) => {
          process.stderr.write(`jp-primary-dev: close failed: ${describeError(e)}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  process.stdout.write(`${JSON.stringify({ listening, url: dev.url, dataDir: dev.dataDir, ...gridftp, pid: process.pid })}\n`);
  return await stopped;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`jp-primary-dev: ${describeError(e)}\n`);
    process.exitCode = 1;
  },
);
