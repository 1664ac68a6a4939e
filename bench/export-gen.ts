/**
 * Generates an interleaved LB dump for the exporter benchmark: `jobs` jobs of
 * about 10 events each (a RegJob with a JDL that mentions other job ids,
 * then smaller events), `active` jobs running at once so their events are
 * interleaved as in a time-sorted dump, every line prefixed DG.ARRIVED=.
 */
import { rng } from '../test/helpers/rng.js';
import { closeSync, openSync, writeSync } from 'node:fs';

export interface GenOptions {
  readonly path: string;
  readonly jobs: number;
  readonly active: number;
  readonly seed?: number;
}

export interface GenResult {
  readonly bytes: number;
  readonly lines: number;
  readonly jobs: number;
}

const EVENTS = ['Accepted', 'EnQueued', 'DeQueued', 'HelperCall', 'Match', 'Transfer', 'Running', 'Done', 'Clear'];
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';


function unique(n: number): string {
  let s = '';
  let x = n * 2654435761 + 12345;
  for (let i = 0; i < 22; i++) {
    s += B64[(x + i * 7) & 63];
    x = Math.floor(x / 3) + n;
  }
  return s;
}

function stamp(t: number): string {
  const sec = Math.floor(t);
  return `2008092805${String(Math.floor(sec / 60) % 60).padStart(2, '0')}${String(sec % 60).padStart(2, '0')}.${String(Math.floor((t - sec) * 1e6)).padStart(6, '0')}`;
}

const PAD = 'x'.repeat(4096);

function eventLine(jobid: string, seq: number, t: number, rand: () => number, other: string): string {
  const head = `DG.ARRIVED=${stamp(t + 0.01)} DATE=${stamp(t)} HOST="wms.example.org" PROG=edg-wms LVL=SYSTEM DG.PRIORITY=0 ` +
    `DG.SOURCE="NetworkServer" DG.SRC_INSTANCE="https://192.0.2.10:7443/glite_wms_wmproxy_server"`;
  const seqcode = `DG.SEQCODE="UI=000000:NS=${String(seq).padStart(10, '0')}:WM=000000:BH=0000000000:JSS=000000:LM=000000:LRMS=000000:APP=000000:LBS=000000"`;
  const user = 'DG.USER="/C=IT/O=INFN/OU=Personal Certificate/L=Example/CN=Bench User"';
  if (seq === 1) {
    const jdlLen = 1000 + Math.floor(rand() * 1500);
    const jdl = `[ requirements = ( other.GlueCEStateStatus == \\"Production\\" ); edg_jobid = \\"${other}\\"; ` +
      `DG.JOBID=\\"${other}\\"; Arguments = \\"-v\\\\t-x\\"; comment = \\"${PAD.slice(0, jdlLen)}\\" ]`;
    return `${head} DG.EVNT="RegJob" DG.JOBID="${jobid}" ${seqcode} ${user} DG.REGJOB.JDL="${jdl}" ` +
      'DG.REGJOB.NS="https://192.0.2.10:7443/glite_wms_wmproxy_server" DG.REGJOB.PARENT="" DG.REGJOB.JOBTYPE="SIMPLE" DG.REGJOB.NSUBJOBS="0" DG.REGJOB.SEED="WMPROXY"';
  }
  const ev = EVENTS[(seq - 2) % EVENTS.length] as string;
  const extra = 200 + Math.floor(rand() * 400);
  return `${head} DG.EVNT="${ev}" DG.JOBID="${jobid}" ${seqcode} ${user} DG.${ev.toUpperCase()}.REASON="${PAD.slice(0, extra)}"`;
}

/** Write the dump; synchronous, in chunks of a few MiB. */
export function generateDump(o: GenOptions): GenResult {
  const rand = rng(o.seed ?? 42);
  const fd = openSync(o.path, 'w', 0o600);
  let buf = '';
  let bytes = 0;
  let lines = 0;
  let started = 0;
  let t = 0;
  const active: { id: string; seq: number; total: number }[] = [];
  const startJob = (): void => {
    const id = `https://lb.example.org:9000/${unique(started++)}`;
    active.push({ id, seq: 0, total: 8 + Math.floor(rand() * 5) });
  };
  while (active.length < o.active && started < o.jobs) startJob();
  try {
    while (active.length > 0) {
      const k = Math.floor(rand() * active.length);
      const job = active[k] as { id: string; seq: number; total: number };
      job.seq++;
      t += 0.001;
      const other = `https://lb.example.org:9000/${unique(Math.floor(rand() * 1e9))}`;
      buf += eventLine(job.id, job.seq, t, rand, other) + '\n';
      lines++;
      if (job.seq >= job.total) {
        active[k] = active[active.length - 1] as typeof job;
        active.pop();
        if (started < o.jobs) startJob();
      }
      if (buf.length > 4 * 1024 * 1024) {
        bytes += writeSync(fd, buf);
        buf = '';
      }
    }
    if (buf.length > 0) bytes += writeSync(fd, buf);
  } finally {
    closeSync(fd);
  }
  return { bytes, lines, jobs: started };
}
