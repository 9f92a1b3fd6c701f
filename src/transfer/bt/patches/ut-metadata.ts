// Patch of ut_metadata 4.0.3 as webtorrent 2.8.5 uses it (BEP 9: a peer that has only a
// magnet link asks for the torrent's info dictionary). webtorrent gives every connection
// its own ut_metadata extension with the whole .torrent, and each one decodes it, re-encodes
// the info dictionary (a copy it keeps), hashes it and encodes it once more: per peer a
// copy of the torrent kept and three times its size in garbage (docs/performance.md).
// bft2 always has the torrent file (SPEC §7) and so do its peers, so a connection whose
// torrent has its metadata keeps none: it does not offer metadata (no metadata_size in its
// handshake) and refuses a request for it, as BEP 9 allows. Fetching metadata (a torrent
// added from a magnet link, which bft2 never does) is unchanged.
// Owns the extension class webtorrent hands to Wire#use. Must not touch other extensions.

type ExtensionClass = (new (wire: unknown) => object) & { prototype: { name?: string } };

interface UtMetadataInternals {
  _metadataComplete: boolean;
  metadata: Uint8Array | null;
  _reject(piece: number): void;
  setMetadata(metadata: Uint8Array): Promise<boolean>;
  _onRequest(piece: number): void;
}

/** Instances whose constructor has returned: a later setMetadata is the original's (a magnet fetch). */
const built = new WeakSet<object>();
const lean = new WeakMap<ExtensionClass, ExtensionClass>();

/** The metadata-less variant of one ut_metadata extension class (webtorrent makes one per wire). */
export function leanUtMetadata(Ext: ExtensionClass): ExtensionClass {
  let L = lean.get(Ext);
  if (L) return L;
  const Base = Ext as unknown as new (wire: unknown) => UtMetadataInternals;
  if (typeof (Base.prototype as Partial<UtMetadataInternals>).setMetadata !== 'function' || typeof (Base.prototype as Partial<UtMetadataInternals>)._onRequest !== 'function') {
    throw new Error('ut_metadata: setMetadata or _onRequest is missing');
  }
  class LeanUtMetadata extends Base {
    constructor(wire: unknown) {
      super(wire);
      built.add(this);
    }
    override setMetadata(metadata: Uint8Array): Promise<boolean> {
      if (built.has(this)) return super.setMetadata(metadata);
      // Called by the constructor with the torrent file: hold nothing, offer nothing.
      this._metadataComplete = true;
      this.metadata = null;
      return Promise.resolve(true);
    }
    override _onRequest(piece: number): void {
      if (this.metadata) return super._onRequest(piece);
      this._reject(piece);
    }
  }
  L = LeanUtMetadata as unknown as ExtensionClass;
  lean.set(Ext, L);
  return L;
}

type UseFn = (this: unknown, Extension: ExtensionClass) => unknown;

/** Wraps bittorrent-protocol's Wire#use so that ut_metadata extensions are the lean ones. */
export function patchUtMetadata(WireProto: object): void {
  const proto = WireProto as { use: UseFn };
  if (typeof proto.use !== 'function') throw new Error('bittorrent-protocol: Wire#use is missing');
  if (proto.use.name === 'useLeanMetadata') return;
  const use = proto.use;
  proto.use = function useLeanMetadata(Extension) {
    return use.call(this, Extension?.prototype?.name === 'ut_metadata' ? leanUtMetadata(Extension) : Extension);
  };
}
