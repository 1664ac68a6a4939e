// Child process for the requeue-versus-retries race test: a consumer like a
// worker, claiming alternately from new/ and from the due messages of post/
// of the spool in argv[2]. A message fails (back to post/, due at once) until
// it has failed argv[3] times in a row, then it is delivered and its name
// printed on its own line. Runs until its stdin closes (or a 90 s limit).
import { DEFAULT_RETRY_POLICY } from '../../src/queue/retry-state.js';
import { Spool } from '../../src/maildir/spool.js';

const failures = Number(process.argv[3] ?? '2');
const spool = new Spool(process.argv[2] as string, { policy: { ...DEFAULT_RETRY_POLICY, firstDelayMs: 0, maxDelayMs: 0, jitter: 0 } });
let stop = false;
process.stdin.on('end', () => { stop = true; });
process.stdin.on('close', () => { stop = true; });
process.stdin.resume();
setTimeout(() => process.exit(3), 90_000).unref();
process.stdout.write('ready\n');

async function handle(name: string, from: 'new' | 'post'): Promise<boolean> {
  const msg = await spool.claim(name, from);
  if (msg === undefined) return false;
  await spool.read(msg, 1 << 20);
  if ((msg.meta?.attempts ?? 0) < failures) {
    await spool.failed(msg, 'not yet');
    return true;
  }
  await spool.delivered(msg);
  process.stdout.write(`${name}\n`);
  return true;
}

while (!stop) {
  let got = 0;
  const sources = [spool.scanNew()[Symbol.asyncIterator](), spool.scanDue(Date.now() + 1000)[Symbol.asyncIterator]()];
  const froms: ('new' | 'post')[] = ['new', 'post'];
  for (let i = 0; sources.length > 0 && !stop; i++) {
    const k = i % sources.length;
    const r = await (sources[k] as AsyncIterator<string>).next();
    if (r.done === true) {
      sources.splice(k, 1);
      froms.splice(k, 1);
      continue;
    }
    if (await handle(r.value, froms[k] as 'new' | 'post')) got++;
  }
  if (got === 0) await new Promise((r) => setTimeout(r, 2)); // idle poll, not a synchronisation
}
process.exit(0);
