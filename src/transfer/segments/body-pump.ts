// The body of a ranged answer (an HTTP server's, an OBS object's) into a range's sink, with
// the rules every server source keeps (SPEC §4): never more than the range, whatever the
// server sends; a partial answer that does not start where asked is rejected, not appended
// (undici's rule); a file that changed at the source under a resumed range is
// SourceChanged, and it starts over; the method's rate cap paces the bytes. One write is in
// flight while the response goes on; the chunks that arrive meanwhile go together in the
// next (not copied into one buffer), and reading pauses when 1 MiB waits, so the network
// and the disk work at once. Used by transfer/cdn and transfer/obs.
// Owns nothing on disk: the sink is the part store's.
import { errors } from '../../errors/catalogue.ts';
import type { FileEntry } from '../../task/schema.ts';
import type { RangeSink } from '../source.ts';

const BLOCK = 1024 * 1024;

/** One range of one file being fetched from a server. */
export interface RangeJob {
  file: FileEntry;
  start: number;
  end: number;
  signal: AbortSignal;
  sink: RangeSink;
}

/** The file changed at the source since part of it was fetched: its bytes start over. */
export class SourceChanged extends Error {
  constructor(readonly file: string, what: string) {
    super(`${file} changed at the source (${what}); starting it over`);
  }
}

/**
 * Streams a body into the job from `offset`, stopping at job.end; returns the bytes written.
 * `whole`: the body is the whole file (a 200 to a ranged request): it is read to its end so
 * that a body longer than the file — or endless — is a clear failure, not a silent cut.
 */
export async function pump(body: AsyncIterable<unknown>, job: RangeJob, offset: number, skip: number, source: string, arm: () => void, whole = false): Promise<number> {
  let at = offset;
  let toSkip = skip;
  let seen = 0;
  // Chunks wait here while a write is under way, and go to the disk as soon as it is free
  // (up to BLOCK bytes wait before reading pauses): a chunk is garbage sooner than when
  // every write waited for a whole block. The part store writes on the event loop, so a
  // write is usually over before the next chunk; this overlap is for when its writes go
  // through the pool (a disk that stalled them).
  let block: Buffer[] = [];
  let blockLen = 0;
  let blockAt = at;
  let inFlight: Promise<void> | undefined;
  let writeFailed: { err: unknown } | undefined;
  const startWrite = () => {
    // The chunks go to the part store as they are: no copy into one buffer.
    const bufs = block;
    const where = blockAt;
    block = [];
    blockAt += blockLen;
    blockLen = 0;
    inFlight = job.sink.write(where, bufs).then(
      () => void (inFlight = undefined),
      (err: unknown) => void ((writeFailed = { err }), (inFlight = undefined)),
    );
  };
  const flush = async () => {
    if (inFlight) await inFlight;
    if (writeFailed) throw writeFailed.err;
    if (blockLen > 0) startWrite();
  };
  // Re-arming the stall timer on every 64 KiB chunk costs a timer per chunk; once a
  // second is as good for a limit of a minute.
  let armedAt = 0;
  try {
    for await (const raw of body) {
      const now = performance.now();
      if (now - armedAt > 1000) {
        armedAt = now;
        arm();
      }
      // Past the range: the server sends more than asked (a correct one has ended the
      // body by now; leaving the loop earlier would destroy every body with an AbortError).
      if (at >= job.end && !whole) break;
      let chunk = raw as Buffer;
      seen += chunk.length;
      if (whole && seen > job.file.size) throw errors.DOWNLOAD_FAILED(source === 'OBS' ? 'obs' : 'cdn', job.file.file, `${source} sent more than the file's ${job.file.size} bytes`);
      if (at >= job.end) continue;
      if (toSkip > 0) {
        if (chunk.length <= toSkip) {
          toSkip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(toSkip);
        toSkip = 0;
      }
      const room = job.end - at;
      if (chunk.length > room) chunk = chunk.subarray(0, room);
      if (chunk.length > 0) {
        await job.sink.take(chunk.length);
        block.push(chunk);
        blockLen += chunk.length;
        at += chunk.length;
        if (writeFailed) throw writeFailed.err;
        // The disk is free: write now. Else read on until BLOCK bytes wait (backpressure).
        if (!inFlight || blockLen >= BLOCK || at >= job.end) await flush();
      }
    }
  } finally {
    // What arrived is kept even when the body failed.
    await flush().catch(() => undefined);
    if (inFlight) await inFlight;
  }
  if (writeFailed) throw writeFailed.err;
  if (at < job.end) throw new Error(`${source} closed the connection at byte ${at} of ${job.file.file} (range ${job.start}-${job.end})`);
  return at - offset;
}

/**
 * Checks a ranged answer's `Content-Range` (206) or `Content-Length` (200) against the
 * range and the task's size; a throw names what is wrong (`what`: "origin", "object").
 */
export function checkRangeAnswer(job: RangeJob, status: number, headers: Record<string, unknown>, method: 'cdn' | 'obs', what: string): void {
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(headers['content-range'] ?? ''));
    if (m && m[3] !== '*' && Number(m[3]) !== job.file.size) throw errors.DOWNLOAD_FAILED(method, job.file.file, `${what} size ${m[3]} differs from task size ${job.file.size}`);
    if (!m || Number(m[1]) !== job.start) throw new Error(`${what} answered range ${String(headers['content-range'] ?? '(none)')} for bytes=${job.start}-${job.end - 1}`);
    return;
  }
  const length = Number(headers['content-length'] ?? NaN);
  if (Number.isFinite(length) && length !== job.file.size) throw errors.DOWNLOAD_FAILED(method, job.file.file, `${what} size ${length} differs from task size ${job.file.size}`);
}

