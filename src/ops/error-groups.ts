/**
 * Grouping of retry/give-up errors for `status` (pure): a light
 * normalisation that makes errors differing only in ports, pids, times,
 * job ids or file names fall into one group, and a tally with a bounded
 * number of groups.
 */

const MAX_GROUP_TEXT = 200;
const MAX_EXAMPLE = 300;
/** Bounds the regular expressions' work on hand-made sidecars. */
const MAX_INPUT = 1000;

const clamp = (s: string, n: number): string => (s.length > n ? s.slice(0, n - 1) + '…' : s);

/**
 * Normalise an error text lightly, in this order: only the first 1000
 * characters are looked at; blanks collapsed; ISO dates/times and clock
 * times → `<time>`; UUIDs → `<uuid>`; URLs keep scheme and host, the port
 * becomes `#` and a path `/…` (trailing punctuation kept); absolute paths
 * keep their directory, the last component becomes `…`; hex runs of 12+
 * characters containing a digit → `<hex>`; a port after a host (`:8900`)
 * → `:#`; every run of 4+ digits → `#`. Short numbers (HTTP/FTP codes,
 * errno values, IPv4 octets, `30s`) are kept. At most 200 characters.
 */
export function normaliseError(text: string): string {
  let s = text.slice(0, MAX_INPUT).replace(/\s+/g, ' ').trim();
  s = s.replace(/\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?/g, '<time>');
  s = s.replace(/\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b/g, '<time>');
  s = s.replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>');
  s = s.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#:'"<>]+)(:\d+)?([/?#][^\s'"<>]*)?/gi,
    (_m, scheme: string, host: string, port: string | undefined, path: string | undefined) => {
      const tail = /[:,;.)\]]+$/.exec(path ?? '')?.[0] ?? '';
      const p = (path ?? '').slice(0, (path ?? '').length - tail.length);
      return `${scheme}${host}${port !== undefined ? ':#' : ''}${p === '' || p === '/' ? p : '/…'}${tail}`;
    });
  s = s.replace(/(^|[\s'"(=,;[])((?:\/[^\s/'"():,;\]]+)*\/)[^\s/'"():,;\]]+/g, '$1$2…');
  s = s.replace(/\b[0-9a-f]{12,}\b/gi, (m) => (/\d/.test(m) ? '<hex>' : m));
  s = s.replace(/([A-Za-z0-9\]])[:](\d{1,5})\b/g, '$1:#');
  s = s.replace(/\d{4,}/g, '#');
  return clamp(s, MAX_GROUP_TEXT);
}

export type ErrorArea = 'post' | 'undeliverable';

export interface ErrorGroup {
  /** The normalised text (the group's key). */
  readonly error: string;
  /** Messages whose last error falls into this group, in post/ and undeliverable/. */
  readonly count: number;
  readonly post: number;
  readonly undeliverable: number;
  /** When the most recent of these errors happened (epoch ms). */
  readonly latestAt: number;
  /** The raw text of that most recent error (up to 300 characters). */
  readonly example: string;
}

interface MutableGroup {
  count: number;
  post: number;
  undeliverable: number;
  latestAt: number;
  example: string;
}

/** Counts per normalised error, with at most `maxGroups` groups kept. */
export class ErrorTally {
  private readonly groups = new Map<string, MutableGroup>();
  /** Errors that fell outside the kept groups (too many distinct ones). */
  other = 0;

  constructor(private readonly maxGroups = 500) {}

  /** Count one message whose last error, at `at`, was `raw`. */
  add(raw: string, area: ErrorArea, at: number): void {
    const key = normaliseError(raw);
    let g = this.groups.get(key);
    if (g === undefined) {
      if (this.groups.size >= this.maxGroups) {
        this.other++;
        return;
      }
      g = { count: 0, post: 0, undeliverable: 0, latestAt: -Infinity, example: '' };
      this.groups.set(key, g);
    }
    const example = clamp(raw.replace(/\s+/g, ' ').trim(), MAX_EXAMPLE);
    if (at > g.latestAt || (at === g.latestAt && example < g.example)) {
      g.latestAt = at;
      g.example = example;
    }
    g.count++;
    g[area]++;
  }

  /** The `n` largest groups, largest first (ties by text, so the order is stable). */
  top(n: number): ErrorGroup[] {
    return [...this.groups.entries()]
      .map(([error, g]) => ({
        error, count: g.count, post: g.post, undeliverable: g.undeliverable, latestAt: g.latestAt, example: g.example,
      }))
      .sort((a, b) => b.count - a.count || (a.error < b.error ? -1 : a.error > b.error ? 1 : 0))
      .slice(0, Math.max(0, n));
  }

  /** Number of distinct groups kept. */
  get size(): number {
    return this.groups.size;
  }
}
