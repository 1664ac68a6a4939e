/** Best-effort job id of a message body, for log lines only (never trusted). */
export function peekJob(body: Uint8Array): string | undefined {
  const head = Buffer.from(body.subarray(0, 2048)).toString('utf8');
  const kv = /^[ \t]*jobid[ \t]+(\S{1,300})/m.exec(head);
  if (kv !== null) return kv[1];
  const first = /^[ \t]*(\S{1,300})/.exec(head);
  return first?.[1]?.includes('://') === true ? first[1] : undefined;
}
