/**
 * The three test hosts of R10 (./r10-network.test.ts) and what is measured on
 * the importer's: network namespaces joined by veth (importer ─ router ─
 * service), vsftpd and the jp-primary-dev CLI on the service host as
 * vsftpd's account, the fault relay on the router, the jp-importer CLI on
 * the importer host; the importer's CPU time, its host's TCP/IP counters and
 * sockets, and its log length at a moment.
 */
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { devCerts, makeServerCert, privateCaDir } from '../helpers/certs.js';
import { spoolDirs, startImporter, type ImporterProc } from '../helpers/daemon.js';
import type { Faults, Forward } from '../helpers/fault-relay.js';
import { makeTestNet, netnsMissing, netnsUnavailable, nsRun, snmpCounters, type TestNet } from '../helpers/netns.js';
import { PRIMARY_DEV_CLI, startPrimaryDevProcess, type PrimaryDevProc } from '../helpers/primary-dev-process.js';
import { startVsftpd, type RealFtpServer } from '../helpers/real-ftp.js';
import { startRelayIn, type RelayProcess } from '../helpers/relay-process.js';
import { tempDir } from '../helpers/tmp.js';
import { cpuSeconds, importerPids } from './procs.js';

export const CONCURRENCY = 8;
export const FTP_CONNECTIONS = 2;
/**
 * Dump workers (-D), several on one spool: a worker whose gate closed and
 * that finds no message left to probe with (the others delivered them) must
 * let its "destination down" record go once the network healed (the gate's
 * idle state), and status must say nothing is down.
 */
export const DUMP_WORKERS = 3;
/** The importer's --retry-first: the destination gate's first probe delay. */
export const FIRST_PROBE_MS = 1_000;
/** The service's upload window: a StartUpload whose answer was lost delays its file this long (the real service: 5 min). */
export const UPLOAD_WINDOW_MS = 20_000;
export const FAULTS: Faults = { delayMs: 200, resetMeanMs: 15_000, stallMeanMs: 8_000, stallMs: [500, 2_000] };

export interface Hosts {
  net: TestNet;
  vs: RealFtpServer;
  svc: PrimaryDevProc;
  relay: RelayProcess;
  imp: ImporterProc;
  dir: string;
  reg: string;
  dump: string;
  files: string;
  relayAddr: string;
}

/** Why the service cannot run as vsftpd's account here, or undefined. */
function accountProblem(uid: number, gid: number): string | undefined {
  const which = spawnSync('setpriv', ['--version'], { stdio: 'ignore' });
  if (which.error !== undefined) return `setpriv (util-linux) is needed to run the service as vsftpd's account: ${which.error.message}`;
  const r = spawnSync(process.execPath, ['-e', 'require("node:fs").readFileSync(process.argv[1])', PRIMARY_DEV_CLI],
    { uid, gid, stdio: 'ignore', cwd: '/', timeout: 30_000 });
  if (r.error !== undefined || r.status !== 0) {
    return `uid ${uid} cannot run ${process.execPath} on ${PRIMARY_DEV_CLI} (${r.error?.message ?? `exit ${r.status}`}): node and the build must be readable by other users`;
  }
  return undefined;
}

/** The three hosts with their programs; undefined when skipped. */
export async function startR10Hosts(t: TestContext, seed: number): Promise<Hosts | undefined> {
  const why = netnsUnavailable();
  if (why !== undefined) {
    netnsMissing(t, why);
    return undefined;
  }
  const net = makeTestNet(t, ['importer', 'router', 'service'], [['router', 'importer'], ['router', 'service']]);
  const relayAddr = net.addr('router', 'importer');
  const svcAddr = net.addr('service', 'router');
  const vs = await startVsftpd(t, { netns: { name: net.ns('service'), address: svcAddr, pasvAddress: relayAddr } });
  if (vs === undefined) return undefined;
  const problem = accountProblem(vs.sessionUid, vs.sessionGid);
  if (problem !== undefined) {
    netnsMissing(t, problem);
    return undefined;
  }

  const dir = await tempDir(t, 'jp-r10-');
  await chmod(dir, 0o755);
  // The service's data directory; its files/ is vsftpd's /up (the FTP root the destinations name).
  const data = join(dir, 'service');
  await mkdir(data, { mode: 0o700 });
  await symlink(vs.fileOf('/up'), join(data, 'files'));
  const certDir = join(dir, 'service-certs');
  await mkdir(certDir, { mode: 0o700 });
  // The importer connects to the router's address: the certificate names it.
  const sc = makeServerCert(certDir, 'relay', [`IP:${relayAddr}`, 'DNS:localhost']);
  const ca = privateCaDir(dir, true).dir;
  await chmod(ca, 0o755);
  for (const p of [data, certDir, sc.cert, sc.key]) await chown(p, vs.sessionUid, vs.sessionGid);

  const svc = await startPrimaryDevProcess(t, {
    netns: net.ns('service'),
    as: { uid: vs.sessionUid, gid: vs.sessionGid },
    dataDir: data,
    args: ['--listen', `${svcAddr}:0`, '-c', sc.cert, '-k', sc.key, '-C', ca, '--data-dir', data,
      '--destination-base', `ftp://${relayAddr}:${vs.port}/up/`, '--upload-window-ms', String(UPLOAD_WINDOW_MS), '--log-level', 'warn'],
  });
  const [pasvMin, pasvMax] = vs.pasvPorts;
  const forwards: Forward[] = [
    { listenPort: svc.httpsPort, targetHost: svcAddr, targetPort: svc.httpsPort, tag: 'https' },
    { listenPort: vs.port, targetHost: svcAddr, targetPort: vs.port, tag: 'ftp' },
  ];
  for (let p = pasvMin; p <= pasvMax; p++) forwards.push({ listenPort: p, targetHost: svcAddr, targetPort: p, tag: 'ftp-data' });
  const relay = await startRelayIn(t, net.ns('router'), { listenHost: relayAddr, forwards, faults: FAULTS, seed });

  const reg = join(dir, 'reg');
  const dump = join(dir, 'dump');
  const files = join(dir, 'files');
  await spoolDirs(reg);
  await spoolDirs(dump);
  await mkdir(files);
  const c = devCerts();
  const imp = startImporter([
    '--foreground', '-p', `${relayAddr}:${svc.httpsPort}`, '-c', c.client, '-k', c.clientKey, '-C', c.caDir,
    '-r', reg, '-d', dump, '-s', join(dir, 'sandbox'), '-i', join(dir, 'jp-importer.pid'), '--workers', 'reg,dump', '-D', String(DUMP_WORKERS), '-t', '200ms',
    '--concurrency', String(CONCURRENCY), '--ftp-connections', String(FTP_CONNECTIONS), '--allow-dir', files,
    '--retry-first', `${FIRST_PROBE_MS}ms`, '--retry-max', '4s', '--timeout', '8s', '--ftp-timeout', '8s',
  ], {}, {}, ['ip', 'netns', 'exec', net.ns('importer')]);
  t.after(() => imp.child.kill('SIGKILL'));
  t.after(async () => {
    if (process.env['JP_R10_LOG'] !== undefined) await writeFile(process.env['JP_R10_LOG'], imp.logs.map((l) => JSON.stringify(l)).join('\n'));
  });
  return { net, vs, svc, relay, imp, dir, reg, dump, files, relayAddr };
}

export interface Snapshot {
  at: number;
  cpu: number;
  snmp: Record<string, Record<string, number>>;
  logs: number;
  /** TCP sockets on the importer's host other than listeners. */
  sockets: number;
}

/** The importer's CPU time (master and workers), its host's TCP/IP counters and sockets, and its log length now. */
export async function snapshot(h: Hosts): Promise<Snapshot> {
  const snmp = await snmpCounters(h.net.ns('importer'));
  const ss = await nsRun(h.net.ns('importer'), 'ss', ['-tanH']);
  const sockets = ss.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('LISTEN')).length;
  return { at: Date.now(), cpu: importerPids(h.imp).reduce((s, p) => s + cpuSeconds(p), 0), snmp, logs: h.imp.logs.length, sockets };
}

export interface WindowFigures {
  ms: number;
  /** SYNs sent (Tcp ActiveOpens). */
  connectAttempts: number;
  /**
   * Packets refused at once for want of a route (Ip OutNoRoutes): new
   * connections, and the retransmissions of those open when the link went.
   */
  refusedNoRoute: number;
  /** TCP sockets (not listening) at the start. */
  socketsAtStart: number;
  cpuS: number;
  logLines: number;
}

export function windowOf(a: Snapshot, b: Snapshot): WindowFigures {
  const d = (group: string, key: string): number => (b.snmp[group]?.[key] ?? NaN) - (a.snmp[group]?.[key] ?? NaN);
  return {
    ms: b.at - a.at,
    connectAttempts: d('Tcp', 'ActiveOpens'),
    refusedNoRoute: d('Ip', 'OutNoRoutes'),
    socketsAtStart: a.sockets,
    cpuS: Number((b.cpu - a.cpu).toFixed(3)),
    logLines: b.logs - a.logs,
  };
}
