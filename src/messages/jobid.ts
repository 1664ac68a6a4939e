import { JpError } from '../core/errors.js';
import { hasControlChars } from './text.js';

/**
 * Validate an LB job id (`https://lb.example.org:9000/<unique>`) and return
 * its unique part (last path segment).
 */
export function jobUnique(jobid: string): string {
  if (jobid.length === 0) throw new JpError('JP_MALFORMED_MESSAGE', 'job id is empty');
  if (jobid.length > 1024) throw new JpError('JP_MALFORMED_MESSAGE', 'job id longer than 1024 characters');
  if (hasControlChars(jobid) || /\s/.test(jobid)) {
    throw new JpError('JP_MALFORMED_MESSAGE', `job id ${JSON.stringify(jobid.slice(0, 80))} contains blanks or control characters`);
  }
  let url: URL;
  try {
    url = new URL(jobid);
  } catch {
    throw new JpError('JP_MALFORMED_MESSAGE', `job id ${JSON.stringify(jobid.slice(0, 80))} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new JpError('JP_MALFORMED_MESSAGE', `job id ${JSON.stringify(jobid.slice(0, 80))} is not an http(s) URL`);
  }
  const unique = url.pathname.split('/').filter((s) => s.length > 0).pop();
  if (unique === undefined || !/^[A-Za-z0-9._~%+=-]+$/.test(unique) || unique === '.' || unique === '..') {
    throw new JpError('JP_MALFORMED_MESSAGE', `job id ${JSON.stringify(jobid.slice(0, 80))} has no usable unique part`);
  }
  return unique;
}
