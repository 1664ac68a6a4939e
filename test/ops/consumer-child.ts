// Child process for the requeue race test: a consumer that keeps claiming
// from new/ of the spool in argv[2] and delivering, printing each delivered
// name on its own line, until its stdin closes (or a 60 s safety limit).
import { Spool } from '../../src/maildir/spool.js';

const spool = new Spool(process.argv[2] as string);
let stop = false;
process.stdin.on('end', () => { stop = true; });
process.stdin.on('close', () => { stop = true; });
process.stdin.resume();
setTimeout(() => process.exit(3), 60_000).unref();
process.stdout.write('ready\n');
while (!stop) {
  let got = 0;
  for await (const name of spool.scanNew()) {
    const msg = await spool.claim(name, 'new');
    if (msg === undefined) continue;
    await spool.read(msg, 1 << 20);
    await spool.delivered(msg);
    process.stdout.write(`${name}\n`);
    got++;
  }
  if (got === 0) await new Promise((r) => setTimeout(r, 2)); // idle poll, not a synchronisation
}
process.exit(0);
