/**
 * One HTTP request and its whole (small) reply over an undici dispatcher,
 * through undici's dispatch handler interface: the reply body is collected
 * as Buffers and decoded once. Compared with `request()` + `body.text()` it
 * spares a Readable stream, its promise plumbing and the api module per call
 * (about 10 µs of CPU per SOAP call, BENCHMARKS.md P1). Errors are undici's own,
 * exactly as `request()` would throw them; an aborted `signal` fails the call
 * with the signal's reason (undici's RequestAbortedError when it has none).
 */
import type { Dispatcher } from 'undici';

export interface HttpReply {
  readonly status: number;
  /** The body decoded as UTF-8 (invalid sequences become U+FFFD). */
  readonly body: string;
}

export type HttpRequest = Pick<Dispatcher.DispatchOptions, 'path' | 'method' | 'headers' | 'body'>;

class ReplyCollector implements Dispatcher.DispatchHandler {
  private status = 0;
  private readonly chunks: Buffer[] = [];
  private controller: Dispatcher.DispatchController | undefined;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly resolve: (r: HttpReply) => void,
    private readonly reject: (e: Error) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal !== undefined) {
      this.onAbort = () => this.controller?.abort(signal.reason);
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // aborted before the request reached a connection (or before it was made)
    if (this.signal?.aborted === true) controller.abort(this.signal.reason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode; // 1xx replies come first and are replaced by the final one
    this.chunks.length = 0;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.done();
    const c = this.chunks;
    this.resolve({ status: this.status, body: (c.length === 1 ? (c[0] as Buffer) : Buffer.concat(c)).toString('utf8') });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.done();
    this.reject(err);
  }

  private done(): void {
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/** Send `req` on `dispatcher` and collect the reply (the size limit is the dispatcher's maxResponseSize). */
export function exchange(dispatcher: Dispatcher, req: HttpRequest, signal?: AbortSignal): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    dispatcher.dispatch(req, new ReplyCollector(resolve, reject, signal));
  });
}
