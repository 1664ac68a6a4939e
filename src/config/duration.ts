/** Pure parsing of durations such as `2`, `500ms`, `30s`, `5m`, `1h`, `5d`. */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds, or undefined when the text is not a duration. A bare number
 * is read in `bareUnit` (the original `-t` took seconds).
 */
export function parseDuration(text: string | number, bareUnit: keyof typeof UNITS = 's'): number | undefined {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) return undefined;
    const ms = Math.round(text * (UNITS[bareUnit] ?? 1));
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  // trim first: \s* on both sides of the number would backtrack quadratically
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) return undefined;
  const unit = UNITS[m[2] ?? bareUnit] ?? 1;
  const ms = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
