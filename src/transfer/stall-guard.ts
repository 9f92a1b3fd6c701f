// A transfer that receives nothing for a while is cut (SPEC §8; TESTBED: undici's
// bodyTimeout does not fire while a write stream applies backpressure, so a stalled server
// could hang a download forever). One guard per request: armed on every block of data.
// Owns nothing but its timer.
import { tuning } from '../config/tuning.ts';

export function stallGuard(signal: AbortSignal) {
  const stallMs = tuning().stall;
  const controller = new AbortController();
  const fromJob = () => controller.abort(signal.reason);
  signal.addEventListener('abort', fromJob, { once: true });
  if (signal.aborted) controller.abort(signal.reason);
  let timer: NodeJS.Timeout | undefined;
  return {
    controller,
    stallMs,
    /** Called on every block of data: the stall clock starts again. */
    arm() {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`no data for ${stallMs / 1000} s`)), stallMs);
    },
    dispose() {
      clearTimeout(timer);
      signal.removeEventListener('abort', fromJob);
    },
  };
}
