/**
 * Primary service address parsing (pure). Deployments write `host:port`
 * (`-p host:8900`), meaning https://host:port/. Full URLs are accepted too.
 * `http://` is read as https://: the original gSOAP client wrapped every
 * connection in (mutual) TLS whatever the scheme, so old configurations
 * saying http:// meant TLS all along.
 */
import { JpError } from '../core/errors.js';

export interface Endpoint {
  /** `https://host:port` (undici Pool origin). */
  readonly origin: string;
  /** Request path, at least `/`. */
  readonly path: string;
  /** Host name or IP literal, without brackets. */
  readonly hostname: string;
  readonly port: number;
  /** The canonical URL string, `https://host:port/path`. */
  readonly url: string;
  /** True when the value said http:// (read as https://). */
  readonly upgradedFromHttp: boolean;
}

const BARE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})(\/.*)?$/;

function bad(value: string, reason: string, what: string): JpError {
  return new JpError('JP_CONFIG', `${what} ${JSON.stringify(value)}: ${reason} (expected host:port or https://host:port/path)`);
}

/** Parse a service address; `what` names the flag/key for error messages. */
export function parseEndpoint(value: string, what = 'primary service address'): Endpoint {
  if (value.trim() === '') throw bad(value, 'empty', what);
  if (/[\s\u0000-\u001F\u007F]/.test(value)) throw bad(value, 'contains blanks or control characters', what);
  let text = value;
  let upgradedFromHttp = false;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value);
  if (scheme === null) {
    if (!BARE.test(value)) {
      throw bad(value, /^[^:/]+$/.test(value) ? 'no port given' : 'not a host:port pair', what);
    }
    text = `https://${value}`;
  } else {
    const s = (scheme[1] ?? '').toLowerCase();
    if (s === 'http') {
      upgradedFromHttp = true;
      text = `https://${value.slice(scheme[0].length)}`;
    } else if (s !== 'https') {
      throw bad(value, `scheme ${s}:// is not supported`, what);
    }
  }
  const explicitPort = /^https:\/\/(?:\[[^\]]*\]|[^/:]*):(\d+)(?:\/|$)/.exec(text)?.[1];
  if (explicitPort !== undefined && (Number(explicitPort) < 1 || Number(explicitPort) > 65535)) {
    throw bad(value, 'port out of range 1-65535', what);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad(value, 'not a valid URL', what);
  }
  if (url.username !== '' || url.password !== '') throw bad(value, 'user information is not allowed', what);
  if (url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#')) {
    throw bad(value, 'query strings and fragments are not allowed', what);
  }
  if (url.hostname === '') throw bad(value, 'no host', what);
  // URL drops the default port; an explicit https://host/ means 443.
  const portText = url.port;
  const port = portText === '' ? 443 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(value, 'port out of range 1-65535', what);
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const hostPart = url.hostname;
  const origin = `https://${hostPart}:${port}`;
  const path = url.pathname === '' ? '/' : url.pathname;
  return { origin, path, hostname, port, url: `${origin}${path}`, upgradedFromHttp };
}
