/** Registration worker: `<jobid>\n<owner>` → RegisterJob over SOAP. */
import { classify } from '../core/classify.js';
import { delivered, withJob, type Outcome } from '../core/outcome.js';
import type { MessageHandler } from '../core/handler.js';
import { MAX_REGISTRATION_BYTES, parseRegistration } from '../messages/registration.js';
import type { PrimaryApi } from '../primary/api.js';

export function createRegistrationHandler(primary: PrimaryApi): MessageHandler {
  return {
    maxBytes: MAX_REGISTRATION_BYTES,
    async handle(_msg, body, signal): Promise<Outcome> {
      let reg;
      try {
        reg = parseRegistration(body);
      } catch (err) {
        return classify(err);
      }
      try {
        await primary.registerJob(reg.jobid, reg.owner, signal);
        return withJob(delivered(), reg.jobid);
      } catch (err) {
        return withJob(classify(err, { operation: 'RegisterJob' }), reg.jobid);
      }
    },
    close: () => primary.close(),
  };
}
