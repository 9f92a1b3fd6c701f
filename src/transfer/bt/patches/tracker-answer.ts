// Patch of bittorrent-tracker 11.2.3's Server (the embedded tracker, tracker.ts): its answer
// to a non-compact announce (`compact=0`, BEP 3's dictionary model) gives each peer's id as
// a JavaScript "binary" string (hex2bin), which the bencoder writes as UTF-8, so an id byte
// of 0x80 or more takes two bytes: the ids came out 23-28 bytes long instead of 20 (issue
// 23), and a client that checks them drops the peers. Here the ids go out as the 20 bytes.
// Owns Server#_onAnnounce's wrapper. Must not change anything else of the answer.

type AnnounceCb = (err: Error | null, response?: { peers?: unknown }) => void;
type OnAnnounce = (this: unknown, params: { compact?: number }, cb: AnnounceCb) => void;

/** A bittorrent-tracker peer id string (one char per byte, 0-255) as its bytes. */
export function peerIdBytes(id: string): Buffer {
  return Buffer.from(id, 'latin1');
}

/** Wraps Server#_onAnnounce on `ServerProto` so that non-compact answers carry 20-byte peer ids. */
export function patchTrackerAnswer(ServerProto: object): void {
  const proto = ServerProto as { _onAnnounce: OnAnnounce };
  if (typeof proto._onAnnounce !== 'function') throw new Error('bittorrent-tracker: Server#_onAnnounce is missing');
  if (proto._onAnnounce.name === 'announceWithPeerIdBytes') return;
  const onAnnounce = proto._onAnnounce;
  proto._onAnnounce = function announceWithPeerIdBytes(params, cb) {
    onAnnounce.call(this, params, (err, response) => {
      if (!err && params.compact === 0 && Array.isArray(response?.peers)) {
        for (const peer of response.peers as { 'peer id'?: unknown }[]) {
          if (typeof peer['peer id'] === 'string') peer['peer id'] = peerIdBytes(peer['peer id']);
        }
      }
      cb(err, response);
    });
  };
}
