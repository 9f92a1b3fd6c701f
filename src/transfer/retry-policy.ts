// One retry policy for every transfer method (undici's retry-handler is the model): a few
// early returns, then a capped exponential delay. The seed retries 5 times, minutes apart.
import { envNumber } from '../util/time.ts';
import { isBft2Error } from '../errors/catalogue.ts';

export interface RetryPolicy {
  maxTries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export function defaultRetryPolicy(): RetryPolicy {
  return {
    maxTries: envNumber('BFT2_RETRY_TRIES', 5),
    baseDelayMs: envNumber('BFT2_RETRY_BASE_MS', 60_000),
    maxDelayMs: envNumber('BFT2_RETRY_MAX_MS', 16 * 60_000),
  };
}

/**
 * The delay before try number `failedTries + 1`, or undefined when no further try is due.
 * `failedTries` counts consecutive failures without progress: a try that moved bytes
 * resets it, so a long file over a flaky link is not given up after five drops.
 */
export function nextRetryDelay(policy: RetryPolicy, failedTries: number, err: unknown): number | undefined {
  if (isBft2Error(err) && err.unrecoverable) return undefined;
  if (failedTries >= policy.maxTries) return undefined;
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedTries - 1));
}
