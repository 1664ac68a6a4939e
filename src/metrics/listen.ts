/** Parse and validate a `host:port` listen address (the metrics endpoint's). */
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { JpError } from '../core/errors.js';

export interface ListenAddress {
  /** IPv4 literal, IPv6 literal (without brackets) or host name. */
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
}

const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_NAME = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?$`);

/**
 * `127.0.0.1:9464`, `[::1]:9464`, `localhost:0`. A host is required (the
 * endpoint is bound to exactly the address given, never to all interfaces
 * by omission). Throws JP_CONFIG naming `what` and the value.
 */
export function parseListen(value: unknown, what = 'metrics listen address'): ListenAddress {
  const fail = (why: string): never => {
    throw new JpError('JP_CONFIG', `${what} ${JSON.stringify(value)}: ${why} (expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464)`);
  };
  if (typeof value !== 'string') return fail('not a string');
  if (value.length === 0) return fail('empty');
  if (/\s/.test(value)) return fail('contains white space');
  if (value.includes('/')) return fail('not host:port (no scheme or path)');
  let host: string;
  let portText: string;
  const bracket = /^\[([^\]]*)\]:([^:]*)$/.exec(value);
  if (bracket !== null) {
    host = bracket[1] as string;
    portText = bracket[2] as string;
    if (!isIPv6(host)) fail(`${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    if (value.startsWith('[')) fail('a bracketed IPv6 address must be followed by :port');
    const colon = value.lastIndexOf(':');
    if (colon < 0) fail('no port');
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.length === 0) fail('no host');
    if (host.includes(':')) fail('an IPv6 address must be written in brackets');
    if (/^[\d.]+$/.test(host) && !isIPv4(host)) fail(`${JSON.stringify(host)} is not an IPv4 address`);
    if (isIP(host) === 0 && (host.length > 253 || !HOST_NAME.test(host))) fail(`${JSON.stringify(host)} is not a valid host name`);
  }
  if (portText.length === 0) fail('no port');
  if (!/^\d{1,5}$/.test(portText)) fail(`port ${JSON.stringify(portText)} is not a number`);
  const port = Number(portText);
  if (port > 65535) fail(`port ${port} is out of range 0-65535`);
  return { host, port };
}
