// One retry policy for every transfer method (undici's retry-handler is the model): a few
// early returns, then a capped exponential delay. The seed retries 5 times, minutes apart.
// Failures that more tries will not cure — a 404 or 403, a bad URL or certificate, OBS
// refusing the keys, a connection refused again and again — get a few quick tries instead
// (SPEC §4: the operator hears of them within a minute, not after a quarter of an hour).
import { envNumber } from '../util/time.ts';
import { isBft2Error } from '../errors/catalogue.ts';

export interface RetryPolicy {
  maxTries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Tries (in all) for a hopeless failure before giving up (default 3). */
  quickTries?: number;
  /** The wait between those tries (default: the shorter of 10 s and baseDelayMs). */
  quickDelayMs?: number;
}

export function defaultRetryPolicy(): RetryPolicy {
  return {
    maxTries: envNumber('BFT2_RETRY_TRIES', 5),
    baseDelayMs: envNumber('BFT2_RETRY_BASE_MS', 60_000),
    maxDelayMs: envNumber('BFT2_RETRY_MAX_MS', 16 * 60_000),
    quickTries: envNumber('BFT2_RETRY_QUICK_TRIES', 3),
    quickDelayMs: envNumber('BFT2_RETRY_QUICK_MS', 10_000),
  };
}

const HOPELESS_ERRNO = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ERR_INVALID_URL']);
const TLS_CERT = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;
/** OBS / S3 error codes that mean the keys, the bucket or the object are wrong. */
const OBS_HOPELESS = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'NoSuchBucket', 'NoSuchKey', 'InvalidBucketName', 'AllAccessDisabled']);

/** Whether more tries of the same request will (almost surely) fail the same way. */
export function isHopeless(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { code?: unknown; status?: unknown };
    if (isBft2Error(e) && e.code === 'HTTP_FAILED') return true;
    if (typeof x.code === 'string' && (HOPELESS_ERRNO.has(x.code) || TLS_CERT.test(x.code) || OBS_HOPELESS.has(x.code))) return true;
    if (x.status === 401 || x.status === 403 || x.status === 404) return true;
  }
  return false;
}

/**
 * The delay before try number `failedTries + 1`, or undefined when no further try is due.
 * `failedTries` counts consecutive failures without progress: a try that moved bytes
 * resets it, so a long file over a flaky link is not given up after five drops.
 */
export function nextRetryDelay(policy: RetryPolicy, failedTries: number, err: unknown): number | undefined {
  if (isBft2Error(err) && err.unrecoverable) return undefined;
  if (isHopeless(err)) return failedTries >= Math.min(policy.quickTries ?? 3, policy.maxTries) ? undefined : (policy.quickDelayMs ?? Math.min(10_000, policy.baseDelayMs));
  if (failedTries >= policy.maxTries) return undefined;
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedTries - 1));
}
