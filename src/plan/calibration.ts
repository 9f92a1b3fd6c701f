// The constants of the delivery model that are not in a scenario: what a node costs
// before its first byte and after its last one, how much of a link's rate each kind of
// transfer gets, how fast an unshaped link is, and the download engine's defaults that
// decide how much an idle method can take over (ranges in flight are not taken over).
// The timing and efficiency figures were measured once in the delivery lab
// (`lab/lab run --predict`; the runs and figures are in docs/performance.md), then
// fixed: the model does not fit itself to each run.
// Owns: those numbers. Must not touch: the model's logic (delivery-model.ts).

export interface Calibration {
  /** Seconds from a node's `recv` to its first byte by HTTP or OBS: spool pickup, task checks, the lanes' start. */
  startS: number;
  /** Seconds more before its first BitTorrent byte: the client made at first use, the torrent's fetch, the tracker, the first peers. */
  btStartS: number;
  /** The same for a node whose client runs from its start (`btatstart`): the torrent's fetch, the tracker, the first peers. */
  btWarmStartS: number;
  /** Seconds from a cinema's last byte to its DCP stored: the last file's hash, the store merge. */
  endS: number;
  /** Seconds from a cacher's last byte to its share seeding at 100%. */
  cacherEndS: number;
  /**
   * Payload BitTorrent moves per byte of link rate, by the role of the node receiving it:
   * a cinema (from the centre or from cachers), a cacher (from the centre).
   */
  btEfficiency: { cinema: number; cacher: number };
  /**
   * Seconds after its BitTorrent start that a cinema, whose cachers are still filling, waits
   * before it gets anything from them: its first re-announce (bt-lane.ts, QUIET_REANNOUNCE_MS).
   */
  quietReannounceS: number;
  /** Payload an HTTP or OBS connection moves per byte of link rate (TCP/IP and HTTP headers). */
  httpEfficiency: number;
  /** Bytes/s of a link the scenario leaves unshaped (1 Gbit/s). */
  unshapedBps: number;
  /**
   * Whether cachers take pieces from each other and from cinemas, or each takes its whole
   * share from the centre (as measured: they swapped under 1% of it).
   */
  cachersSwap: boolean;
  /** Ranges a cinema's lane fetches at once, per method (the sources' `parallel`): OBS and CDN ones are also its connections. */
  parallel: { bt: number; obs: number; cdn: number };
  /** The size of the ranges BitTorrent and the CDN fetch and take over (tuning.chunk), and OBS's (tuning.obschunk). */
  chunkBytes: number;
  obsChunkBytes: number;
}

export const CALIBRATION: Calibration = Object.freeze({
  startS: 0.5,
  btStartS: 1.7,
  btWarmStartS: 0.3,
  endS: 0.7,
  cacherEndS: 0.5,
  btEfficiency: { cinema: 0.95, cacher: 0.7 },
  quietReannounceS: 15,
  httpEfficiency: 0.95,
  unshapedBps: 125e6,
  cachersSwap: false,
  parallel: { bt: 4, obs: 2, cdn: 2 },
  chunkBytes: 16 * 1024 * 1024,
  obsChunkBytes: 64 * 1024 * 1024,
});
