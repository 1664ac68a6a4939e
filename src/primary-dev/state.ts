/**
 * What the reference service remembers: registered jobs and uploads.
 * Kept in memory; every change is appended to `<data-dir>/state.journal`
 * before the call is answered (so a killed service loses nothing it
 * acknowledged), and `<data-dir>/state.json` is rewritten atomically from
 * memory at start (after replaying the journal) and at close, when the
 * journal is emptied.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { JpError, systemCode } from '../core/errors.js';
import { writeFileAtomic } from '../queue/fs.js';
import { AppendLog } from './append-log.js';

export interface JobRecord {
  readonly owner: string;
  /** Registration time, ms since the epoch. */
  readonly regtime: number;
  /** Slash-form subject of the client that registered it. */
  readonly registeredBy: string;
}

export interface UploadRecord {
  readonly job: string;
  readonly class: string;
  /** Absent: no name came (xsi:nil). */
  readonly name?: string;
  readonly contentType: string;
  /** Path under the FTP root, `<job unique>/<file name>`. */
  readonly relPath: string;
  readonly destination: string;
  /** ms since the epoch. */
  readonly commitBefore: number;
  readonly startedBy: string;
  readonly startedAt: number;
  readonly state: 'uploading' | 'committed';
  readonly bytes?: number;
  readonly committedAt?: number;
}

type JournalEntry = { t: 'job'; id: string; rec: JobRecord } | { t: 'upload'; key: string; rec: UploadRecord };

interface Snapshot {
  version: 1;
  jobs: Record<string, JobRecord>;
  uploads: Record<string, UploadRecord>;
}

export class DevState {
  readonly jobs = new Map<string, JobRecord>();
  /** By relPath. */
  readonly uploads = new Map<string, UploadRecord>();
  private journal: AppendLog | undefined;

  private constructor(readonly dataDir: string) {}

  get stateFile(): string {
    return join(this.dataDir, 'state.json');
  }

  get journalFile(): string {
    return join(this.dataDir, 'state.journal');
  }

  static async open(dataDir: string): Promise<DevState> {
    const s = new DevState(dataDir);
    await s.load();
    await s.snapshot();
    s.journal = await AppendLog.open(s.journalFile);
    await s.journal.truncate();
    return s;
  }

  /** Record a job; resolves when the change is in the journal. */
  setJob(id: string, rec: JobRecord): Promise<void> {
    this.jobs.set(id, rec);
    return this.write({ t: 'job', id, rec });
  }

  setUpload(key: string, rec: UploadRecord): Promise<void> {
    this.uploads.set(key, rec);
    return this.write({ t: 'upload', key, rec });
  }

  private write(e: JournalEntry): Promise<void> {
    if (this.journal === undefined) return Promise.reject(new Error('state is closed'));
    return this.journal.append(JSON.stringify(e));
  }

  async close(): Promise<void> {
    const j = this.journal;
    if (j === undefined) return;
    this.journal = undefined;
    await j.idle();
    await this.snapshot();
    await j.truncate();
    await j.close();
  }

  private async snapshot(): Promise<void> {
    const snap: Snapshot = { version: 1, jobs: Object.fromEntries(this.jobs), uploads: Object.fromEntries(this.uploads) };
    await writeFileAtomic(this.stateFile, `${JSON.stringify(snap)}\n`, 0o600);
  }

  private async load(): Promise<void> {
    const text = await readIfExists(this.stateFile);
    if (text !== undefined) {
      let snap: unknown;
      try {
        snap = JSON.parse(text);
      } catch (e) {
        throw new JpError('JP_CONFIG', `state file ${this.stateFile} is damaged (${(e as Error).message}); move it away to start empty`);
      }
      if (!isSnapshot(snap)) {
        throw new JpError('JP_CONFIG', `state file ${this.stateFile} is not a jp-primary-dev state (version 1); move it away to start empty`);
      }
      for (const [k, v] of Object.entries(snap.jobs)) this.jobs.set(k, v);
      for (const [k, v] of Object.entries(snap.uploads)) this.uploads.set(k, v);
    }
    const journal = await readIfExists(this.journalFile);
    if (journal === undefined) return;
    for (const line of journal.split('\n')) {
      if (line === '') continue;
      let e: JournalEntry;
      try {
        e = JSON.parse(line) as JournalEntry;
      } catch {
        continue; // a line cut short by a crash: its call was never answered
      }
      if (e.t === 'job' && typeof e.id === 'string') this.jobs.set(e.id, e.rec);
      else if (e.t === 'upload' && typeof e.key === 'string') this.uploads.set(e.key, e.rec);
    }
  }
}

function isSnapshot(v: unknown): v is Snapshot {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o['version'] === 1 && typeof o['jobs'] === 'object' && o['jobs'] !== null && typeof o['uploads'] === 'object' && o['uploads'] !== null;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    if (systemCode(e) === 'ENOENT') return undefined;
    throw new JpError('JP_CONFIG', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
}
