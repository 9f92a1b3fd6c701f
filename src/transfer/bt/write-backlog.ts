// How many bytes of verified pieces wait for the disk, process-wide: the store counts each
// piece from the moment it is handed over until its write is over (file-store.ts), and
// BitTorrent requests nothing while the count is at its limit (patches/wait-for-disk.ts).
// Without it nothing slowed the requests when writes lagged behind the network, and whole
// pieces piled up in memory (docs/performance.md, memory).
// Owns the count and the list of torrents waiting for it to fall. Must not hold a piece itself.

/** Bytes of pieces waiting for their write at which BitTorrent stops requesting. */
export const WRITE_BACKLOG_BYTES = 16 * 1024 * 1024;

export class WriteBacklog {
  private bytes = 0;
  /** What to call once the count falls below the limit, by waiting torrent (each once). */
  private readonly waiting = new Map<object, () => void>();
  /** The most bytes that waited at once, and how often a torrent's requests were held back (figures, tests). */
  most = 0;
  held = 0;

  /** `limit` is mutable so a test can hold pieces back with a few KiB of data. */
  constructor(public limit = WRITE_BACKLOG_BYTES) {}

  /** True while nothing may be requested. */
  get full(): boolean {
    return this.bytes >= this.limit;
  }

  get waitingBytes(): number {
    return this.bytes;
  }

  /** A piece of `n` bytes was handed to the store. */
  begin(n: number): void {
    this.bytes += n;
    if (this.bytes > this.most) this.most = this.bytes;
  }

  /** Its write is over (written or failed). Wakes every waiting torrent once the count is below the limit. */
  end(n: number): void {
    this.bytes -= n;
    if (this.full || this.waiting.size === 0) return;
    const wake = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of wake) w();
  }

  /** `who` was held back: `wake` is called when the count falls below the limit. */
  hold(who: object, wake: () => void): void {
    this.held++;
    if (!this.waiting.has(who)) this.waiting.set(who, wake);
  }
}

/** The process's one backlog: every torrent's pieces share the memory it bounds. */
export const pieceWrites = new WriteBacklog();
