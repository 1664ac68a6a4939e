/**
 * Bucket bounds of the delivery-time histogram, shared by the master (which
 * owns the Prometheus histogram) and the workers (which fold latency samples
 * into the same buckets when a report would grow too large). This file has no
 * dependencies, so workers do not load prom-client.
 */

/** Upper bounds in seconds: 5 ms … 5 min (the +Inf bucket is implicit). */
export const DELIVERY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
]);

/**
 * Index of the bucket a duration in milliseconds falls into, compared in
 * seconds exactly as the histogram compares (value ≤ bound); the last index
 * (DELIVERY_BUCKETS_SECONDS.length) is the +Inf bucket.
 */
export function bucketIndex(ms: number): number {
  const s = ms / 1000;
  let i = 0;
  while (i < DELIVERY_BUCKETS_SECONDS.length && s > (DELIVERY_BUCKETS_SECONDS[i] as number)) i++;
  return i;
}
