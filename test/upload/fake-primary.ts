/**
 * A scriptable in-memory PrimaryApi for the upload handler tests: records
 * every call; StartUpload hands out destinations on the test FTP endpoint;
 * CommitUpload checks the endpoint's verifier (as the reference service
 * does: EAGAIN for a file not completely there) and, as the real one, answers
 * ENOENT "No such upload in progress" for a destination already committed.
 * `script` queues one-shot behaviours per operation (a JpError to throw,
 * or a function to run instead of the default).
 */
import { JpError } from '../../src/core/errors.js';
import type { AttrValue, PrimaryApi, StartUploadRequest, StartUploadResult } from '../../src/primary/api.js';
import type { UploadVerifier } from '../../src/primary-dev/ftp/verifier.js';

export type Call =
  | { op: 'RegisterJob'; job: string; owner: string }
  | { op: 'StartUpload'; req: StartUploadRequest }
  | { op: 'CommitUpload'; destination: string }
  | { op: 'GetJobAttributes'; jobid: string; attributes: readonly string[] };

type Op = Call['op'];
type Step = JpError | (() => Promise<unknown>);

export function fault(code: number | undefined, text = 'fault'): JpError {
  return new JpError('JP_SOAP_FAULT', text, code === undefined ? {} : { faultCode: code });
}

export class FakePrimary implements PrimaryApi {
  readonly calls: Call[] = [];
  private readonly scripts = new Map<Op, Step[]>();
  private seq = 0;
  /** Destinations committed so far. */
  readonly committed = new Set<string>();

  constructor(private readonly ftpUrl: string, private readonly verifier: UploadVerifier) {}

  script(op: Op, ...steps: Step[]): this {
    this.scripts.set(op, [...(this.scripts.get(op) ?? []), ...steps]);
    return this;
  }

  ops(): Op[] {
    return this.calls.map((c) => c.op);
  }

  private async scripted<T>(op: Op, fallback: () => Promise<T>): Promise<T> {
    const step = this.scripts.get(op)?.shift();
    if (step === undefined) return fallback();
    if (step instanceof JpError) throw step;
    return (await step()) as T;
  }

  async registerJob(job: string, owner: string): Promise<void> {
    this.calls.push({ op: 'RegisterJob', job, owner });
    return this.scripted('RegisterJob', async () => undefined);
  }

  async startUpload(req: StartUploadRequest): Promise<StartUploadResult> {
    this.calls.push({ op: 'StartUpload', req });
    return this.scripted('StartUpload', async () => ({
      destination: `${this.ftpUrl}/jobs/${++this.seq}/${encodeURIComponent(req.name ?? 'no-name')}`,
      commitBefore: req.commitBefore,
    }));
  }

  async commitUpload(destination: string): Promise<void> {
    this.calls.push({ op: 'CommitUpload', destination });
    return this.scripted('CommitUpload', () => this.commitNow(destination));
  }

  /** What CommitUpload does when nothing is scripted (scripts call it to commit and then lose the answer). */
  async commitNow(destination: string): Promise<void> {
    if (this.committed.has(destination)) throw fault(2, 'No such upload in progress');
    const path = decodeURIComponent(new URL(destination).pathname);
    if (this.verifier.completed(path) === undefined) throw fault(11, 'Uploaded file not found or incomplete');
    this.committed.add(destination);
  }

  async getJobAttributes(jobid: string, attributes: readonly string[]): Promise<AttrValue[]> {
    this.calls.push({ op: 'GetJobAttributes', jobid, attributes });
    return this.scripted('GetJobAttributes', async () => [
      { name: attributes[0] ?? '', value: '2024-01-01T00:00:00Z', timestamp: undefined, origin: undefined },
    ]);
  }

  async close(): Promise<void> {}
}
