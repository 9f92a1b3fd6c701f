// The constants of the delivery model that are not in a scenario: what a node costs
// before its first byte and after its last one, how much of a link's rate each kind of
// transfer gets, and how fast an unshaped link is. Measured once in the delivery lab
// (`lab/lab run --predict`; the runs and figures are in docs/performance.md), then
// fixed: the model does not fit itself to each run.
// Owns: those numbers. Must not touch: the model's logic (delivery-model.ts).

export interface Calibration {
  /** Seconds from a node's `recv` to its first byte: spool pickup, task checks, torrent fetch, tracker and peers. */
  startS: number;
  /** Seconds from a cinema's last byte to its DCP stored: the last file's hash, the store merge. */
  endS: number;
  /** Seconds from a cacher's last byte to its share seeding at 100%. */
  cacherEndS: number;
  /** Payload a BitTorrent connection moves per byte of link rate (protocol, choking, request pipelining). */
  btEfficiency: number;
  /** Payload an HTTP or OBS connection moves per byte of link rate (TCP/IP and HTTP headers). */
  httpEfficiency: number;
  /** Bytes/s of a link the scenario leaves unshaped (1 Gbit/s). */
  unshapedBps: number;
  /** Parallel connections of a cinema's OBS and CDN lanes (BFT2_OBS_PARALLEL, BFT2_CDN_PARALLEL). */
  httpConnections: number;
}

export const CALIBRATION: Calibration = Object.freeze({
  startS: 1.5,
  endS: 0.5,
  cacherEndS: 0.5,
  btEfficiency: 0.85,
  httpEfficiency: 0.95,
  unshapedBps: 125e6,
  httpConnections: 2,
});
