/**
 * Client (forward) mode: post the request body as the form field `params`
 * (application/x-www-form-urlencoded, as jobman's client did) and decide:
 * 2xx delivered (answer returned), 4xx give up (answer kept in the reason)
 * except 408 and 429, which like 5xx, other statuses, network errors and
 * timeouts retry later.
 */
import { request, type Dispatcher } from 'undici';
import { describeError, JpError } from '../core/errors.js';
import { maskUrl } from './config.js';

export interface ForwardOptions {
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
  /** Time allowed for the answer's headers and between body chunks. Default 30 s. */
  timeoutMs?: number;
}

/** Bytes of the answer kept (in the outcome note or the give-up reason). */
export const MAX_ANSWER = 4096;

async function readAnswer(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    if (size < MAX_ANSWER) chunks.push(b.subarray(0, MAX_ANSWER - size));
    size += b.length;
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
  return size > MAX_ANSWER ? `${text}… (${size} bytes)` : text;
}

/** Post one request; resolves with the server's answer on 2xx, throws JpError otherwise. */
export async function forwardRequest(postUrl: string, body: Buffer | string, opts: ForwardOptions = {}): Promise<string> {
  const where = `POST ${maskUrl(postUrl)}`;
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const timeout = opts.timeoutMs ?? 30_000;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(postUrl, {
      method: 'POST',
      body: new URLSearchParams({ params: text }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(opts.dispatcher === undefined ? {} : { dispatcher: opts.dispatcher }),
    });
  } catch (e) {
    if (opts.signal?.aborted === true) throw new JpError('JP_ABORTED', `${where}: aborted`, { cause: e });
    throw new JpError('JP_NETWORK', `${where}: ${describeError(e)}`, { cause: e, temporary: true });
  }
  let answer: string;
  try {
    answer = await readAnswer(res.body);
  } catch (e) {
    throw new JpError('JP_NETWORK', `${where}: answer ${res.statusCode} cut short: ${describeError(e)}`, { cause: e, temporary: true });
  }
  const status = res.statusCode;
  if (status >= 200 && status < 300) return answer;
  const msg = `${where}: HTTP ${status}${answer === '' ? '' : `: ${answer}`}`;
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) throw new JpError('JP_HTTP_STATUS', msg, { status, temporary: false });
  throw new JpError('JP_HTTP_STATUS', msg, { status, temporary: true });
}
