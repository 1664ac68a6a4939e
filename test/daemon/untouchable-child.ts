// Child process of the untouchable-messages test (worker-loop.test.ts), run
// as an unprivileged user: a worker loop over the spool in argv[2] whose
// handler delivers every body it is given (a body starting with "retry" fails
// once first). Log lines (JSON) go to stdout; at the end one line
// {"summary": …}. Stops when argv[3] messages were delivered and argv[4] given
// up, or after 60 s. With argv[5] (JSON JobmanQueueOptions) the queue is
// jobman's folders instead of the maildir spool in argv[2].
import { pino } from 'pino';
import { delivered, retryLater } from '../../src/core/outcome.js';
import { WorkerLoop } from '../../src/daemon/worker-loop.js';
import { DEFAULT_RETRY_POLICY } from '../../src/queue/retry-state.js';
import { Spool } from '../../src/maildir/spool.js';
import { JobmanQueue, type JobmanQueueOptions } from '../../src/jobman/queue.js';

const [root, wantDelivered, wantGivenUp] = [process.argv[2] as string, Number(process.argv[3]), Number(process.argv[4])];
const log = pino({ level: 'info' }, process.stdout);
const bodies: string[] = [];
const failedOnce = new Set<string>();
let fatal = 0;
const policy = { ...DEFAULT_RETRY_POLICY, firstDelayMs: 300, maxDelayMs: 300, jitter: 0 };
const jobman = process.argv[5] === undefined ? undefined : (JSON.parse(process.argv[5]) as JobmanQueueOptions);
const spool = jobman === undefined ? new Spool(root, { policy }) : new JobmanQueue({ ...jobman, policy });
const loop = new WorkerLoop({
  queue: spool,
  log,
  concurrency: 4,
  pollMs: 50,
  retryScanMs: 50,
  handler: {
    maxBytes: 4096,
    handle: async (_m, body) => {
      const b = body.toString();
      if (b.startsWith('retry') && !failedOnce.has(b)) {
        failedOnce.add(b);
        return retryLater('the first attempt fails');
      }
      bodies.push(b);
      return delivered();
    },
    close: async () => undefined,
  },
  onFatal: () => { fatal++; },
});
let loopError: string | undefined;
const running = loop.run().catch((e: unknown) => { loopError = String(e); });
const t0 = Date.now();
while (Date.now() - t0 < 60_000 && !(loop.counts.delivered >= wantDelivered && loop.counts.gaveUp >= wantGivenUp) && fatal === 0
  && loopError === undefined) {
  await new Promise((r) => setTimeout(r, 50));
}
// a little longer: nothing more may happen (no second delivery, no more log lines than allowed)
await new Promise((r) => setTimeout(r, 500));
await loop.stop(1000).catch(() => undefined);
await running;
process.stdout.write(JSON.stringify({ summary: { counts: loop.counts, bodies, fatal, loopError: loopError ?? null } }) + '\n');
process.exit(0);
