// Bandwidth caps of the node (SPEC §3 `btlimit`, `obslimit`, `cdnlimit`, `btuploadlimit`):
// one token bucket per method shared by every transfer of that method on the node, and
// webtorrent's own throttles for BitTorrent. Each cap may follow a timetable
// ("08:00,5MB/s 18:00,off"); one timer moves every cap at its next change, and a
// `reloadconf` applies new values at once, to transfers already running.
// Owns: the limiters and that timer. Must not touch transfers (they call `take`).
import { RateLimiter } from '../transfer/rate-limiter.ts';
import { parseRateSpec, rateAt, nextRateChange, type RateSpec } from '../schedule/rate.ts';
import type { BtClient } from '../transfer/bt/bt-client.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';

type CapKey = 'btlimit' | 'obslimit' | 'cdnlimit' | 'btuploadlimit';
const KEYS: CapKey[] = ['btlimit', 'obslimit', 'cdnlimit', 'btuploadlimit'];

export class TransferCaps {
  readonly obs = new RateLimiter();
  readonly cdn = new RateLimiter();
  private bt?: BtClient;
  private timer?: NodeJS.Timeout;
  private specs = new Map<CapKey, RateSpec>();
  private applied = new Map<CapKey, number | undefined>();

  constructor(
    private readonly config: () => Config,
    private readonly log: Logger,
  ) {}

  /** Reads the caps from the config (at start and after every reload) and applies them now. */
  reconfigure(): void {
    const c = this.config();
    for (const k of KEYS) this.specs.set(k, parseRateSpec(c[k]));
    this.apply();
  }

  /** The BitTorrent client, once made: its throttles follow btlimit / btuploadlimit. */
  attachBt(client: BtClient): void {
    this.bt = client;
    this.applied.delete('btlimit');
    this.applied.delete('btuploadlimit');
    this.apply();
  }

  /**
   * Resolves when `n` more bytes of a method may pass. BitTorrent's cap is webtorrent's own
   * throttle (its bytes never pass through here): it resolves at once.
   */
  take(method: 'bt' | 'obs' | 'cdn', n: number, signal?: AbortSignal): Promise<void> {
    if (method === 'obs') return this.obs.take(n, signal);
    if (method === 'cdn') return this.cdn.take(n, signal);
    return Promise.resolve();
  }

  /** The bytes/s in force for a cap now (undefined: none). */
  current(key: CapKey): number | undefined {
    return this.applied.get(key);
  }

  close(): void {
    clearTimeout(this.timer);
  }

  private apply(): void {
    clearTimeout(this.timer);
    const now = new Date();
    let next: Date | undefined;
    for (const k of KEYS) {
      const spec = this.specs.get(k) ?? { kind: 'none' as const };
      const rate = rateAt(spec, now);
      if (this.applied.get(k) !== rate || !this.applied.has(k)) {
        this.applied.set(k, rate);
        this.set(k, rate);
        this.log.info(`cap ${k}: ${rate === undefined ? 'off' : `${Math.round(rate / 1024)} KB/s`}`);
      }
      const change = nextRateChange(spec, now);
      if (change && (!next || change < next)) next = change;
    }
    if (next) {
      // At most an hour at a time: the clock may be stepped meanwhile.
      this.timer = setTimeout(() => this.apply(), Math.min(3600_000, Math.max(1000, next.getTime() - Date.now() + 50)));
      this.timer.unref();
    }
  }

  private set(k: CapKey, rate: number | undefined): void {
    if (k === 'obslimit') this.obs.setRate(rate);
    else if (k === 'cdnlimit') this.cdn.setRate(rate);
    else if (this.bt && !this.bt.wt.destroyed) {
      if (k === 'btlimit') this.bt.wt.throttleDownload(rate ?? -1);
      else this.bt.wt.throttleUpload(rate ?? -1);
    }
  }
}
