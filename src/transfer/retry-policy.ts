// One retry policy for every transfer method (undici's retry-handler is the model): a few
// early returns, then a capped exponential delay. Failures fall in three classes:
// - hopeless: more tries will not cure them — a 404 or 403, a bad URL or certificate, OBS
//   refusing the keys. A few quick tries, so the operator hears of them within a minute.
// - transient: the source is away for a while — connection refused, reset or timed out,
//   a DNS failure, HTTP 5xx or 429. Growing back-off for longer than the seed's own budget
//   (5 tries, 5 minutes apart), and a task that still fails is re-armed later by autoretry
//   (src/spool/auto-retry.ts): an origin restart must not wait for a person.
// - other: the same growing back-off.
import { isBft2Error } from '../errors/catalogue.ts';
import { tuning } from '../config/tuning.ts';

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
  const t = tuning();
  return {
    // 1, 2, 4, 8, 10, 10 minutes: 35 minutes of tries, more than the seed's 5 × 5.
    maxTries: t.retrytries,
    baseDelayMs: t.retrydelay,
    maxDelayMs: t.retrymaxdelay,
    quickTries: t.quicktries,
    quickDelayMs: t.quickdelay,
  };
}

export type FaultClass = 'hopeless' | 'transient' | 'other';

const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN',
  'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ESERVFAIL',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);
const HOPELESS_ERRNO = new Set(['ERR_INVALID_URL']);
const TLS_CERT = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;
/** OBS / S3 error codes that mean the keys, the bucket or the object are wrong. */
const OBS_HOPELESS = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'NoSuchBucket', 'NoSuchKey', 'InvalidBucketName', 'AllAccessDisabled']);
/** Text forms of the same causes, for errors that carry only a message (a wrapped library error). */
const TRANSIENT_TEXT = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|socket hang up|HTTP (5\d\d|429) from)\b/;

/** The class of a failure (see the header), looking through `cause` chains. Pure. */
export function faultClass(err: unknown): FaultClass {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { code?: unknown; status?: unknown; message?: unknown };
    if (isBft2Error(e) && e.code === 'HTTP_FAILED') return 'hopeless';
    if (typeof x.code === 'string') {
      if (HOPELESS_ERRNO.has(x.code) || TLS_CERT.test(x.code) || OBS_HOPELESS.has(x.code)) return 'hopeless';
      if (TRANSIENT_ERRNO.has(x.code)) return 'transient';
    }
    if (typeof x.status === 'number') {
      if (x.status === 401 || x.status === 403 || x.status === 404 || x.status === 410) return 'hopeless';
      if (x.status === 429 || (x.status >= 500 && x.status <= 599)) return 'transient';
    }
    if (typeof x.message === 'string' && TRANSIENT_TEXT.test(x.message)) return 'transient';
  }
  return 'other';
}

/** Whether more tries of the same request will (almost surely) fail the same way. */
export function isHopeless(err: unknown): boolean {
  return faultClass(err) === 'hopeless';
}

/**
 * The delay before try number `failedTries + 1`, or undefined when no further try is due.
 * `failedTries` counts consecutive failures without progress: a try that moved bytes
 * resets it, so a long file over a flaky link is not given up after a few drops.
 */
export function nextRetryDelay(policy: RetryPolicy, failedTries: number, err: unknown): number | undefined {
  if (isBft2Error(err) && err.unrecoverable) return undefined;
  if (isHopeless(err)) return failedTries >= Math.min(policy.quickTries ?? 3, policy.maxTries) ? undefined : (policy.quickDelayMs ?? Math.min(10_000, policy.baseDelayMs));
  if (failedTries >= policy.maxTries) return undefined;
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedTries - 1));
}
