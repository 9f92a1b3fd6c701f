// OBS addresses (SPEC §7): a task's `obs.url` is `obs://<bucket>/dcps/<name>` and a file
// of the DCP is the object `dcps/<name>/<file>`. Parsing and key building only, no I/O.
// Owns the obs URL grammar; must not touch task validation (src/task/), which already
// rejects unsafe `file` paths before they reach here — they are checked again because an
// object key built from `..` would still be a valid key, just the wrong one.
import { Bft2Error, errors } from '../../errors/catalogue.ts';
import { unsafeRelativePath } from '../../task/validate-task.ts';

export interface ObsLocation {
  bucket: string;
  /** The key prefix without leading or trailing `/` (`dcps/name`); '' is the bucket root. */
  prefix: string;
}

// OBS (and S3) bucket names: 3-63 characters, lower-case letters, digits, `-` and `.`,
// beginning and ending with a letter or digit. Checked here so a typo in a task gives a
// message naming the URL instead of a signature or DNS error from the SDK later.
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Not in the catalogue yet (see the obs report); a bad URL will not get better on retry. */
function invalidUrl(url: string, why: string): Bft2Error {
  return errors.OBS_URL_INVALID(`invalid obs url ${JSON.stringify(url)}: ${why}`);
}

/** `obs://bucket/dcps/name` → `{ bucket: 'bucket', prefix: 'dcps/name' }`. */
export function parseObsUrl(url: string): ObsLocation {
  if (typeof url !== 'string' || url.trim() === '') throw invalidUrl(String(url ?? ''), 'it is empty');
  const m = /^obs:\/\/([^/]*)(?:\/(.*))?$/i.exec(url.trim());
  if (!m) throw invalidUrl(url, 'it must look like obs://<bucket>/<prefix>');
  const bucket = m[1];
  if (bucket === '') throw invalidUrl(url, 'the bucket name is missing');
  if (!BUCKET_RE.test(bucket)) {
    throw invalidUrl(url, `bucket ${JSON.stringify(bucket)} is not a valid bucket name (3-63 of a-z 0-9 . -)`);
  }
  // A trailing `/` is tolerated (SPEC §3 drops them from config URLs the same way).
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix !== '') {
    const why = unsafeRelativePath(prefix);
    if (why) throw invalidUrl(url, `the key prefix ${why}`);
  }
  return { bucket, prefix };
}

/** The object key of `file` (a relative path inside the DCP) under `prefix`. */
export function objectKey(prefix: string, file: string): string {
  const why = unsafeRelativePath(file);
  if (why || file === '') {
    throw errors.OBS_URL_INVALID(`invalid file for an obs object key ${JSON.stringify(file)}: ${why ?? 'it is empty'}`);
  }
  return prefix === '' ? file : `${prefix}/${file}`;
}

/** The inverse of parseObsUrl, for messages and part metadata (carries no secret). */
export function formatObsUrl(bucket: string, key: string): string {
  return `obs://${bucket}/${key}`;
}
