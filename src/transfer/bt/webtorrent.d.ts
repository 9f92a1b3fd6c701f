// Minimal types for the untyped BitTorrent packages bft2 uses (webtorrent 2.8.5,
// bittorrent-tracker 11, create-torrent 6 — the last only in tests — and the classes
// src/transfer/bt/patches/ changes), covering only what src/transfer/bt/ calls.
// Owns these ambient declarations only; if another part of bft2 needs more of these
// APIs, extend the declarations here rather than declaring the modules a second time
// (two `declare module 'webtorrent'` blocks would merge or clash).

declare module 'webtorrent' {
  import { EventEmitter } from 'node:events';

  export interface WebTorrentOptions {
    /** 40 hex digits. */
    peerId?: string;
    torrentPort?: number;
    dht?: boolean | object;
    lsd?: boolean;
    utp?: boolean;
    utPex?: boolean;
    natUpnp?: boolean | 'permanent';
    natPmp?: boolean;
    webSeeds?: boolean;
    tracker?: false | { wrtc?: unknown; announce?: string[]; getAnnounceOpts?: () => object };
    maxConns?: number;
    seedOutgoingConnections?: boolean;
    downloadLimit?: number;
    uploadLimit?: number;
  }

  export interface AddOptions {
    path?: string;
    skipVerify?: boolean;
    deselect?: boolean;
    bitfield?: Uint8Array;
    storeCacheSlots?: number;
    strategy?: 'sequential' | 'rarest';
    announce?: string[];
    private?: boolean;
    uploads?: number | false;
    createdBy?: string;
    /** A chunk-store constructor (abstract-chunk-store), e.g. fs-chunk-store or a subclass. */
    store?: new (chunkLength: number, opts: any) => unknown;
  }

  export interface TorrentFile extends EventEmitter {
    readonly name: string;
    readonly path: string;
    readonly length: number;
    readonly offset: number;
    readonly done: boolean;
    readonly downloaded: number;
    select(priority?: number): void;
    deselect(): void;
  }

  export interface BitField {
    get(index: number): boolean;
    readonly buffer: Uint8Array;
  }

  export interface Wire extends EventEmitter {
    /** The remote peer id (40 hex digits), once the handshake is done. */
    readonly peerId: string | null;
    readonly peerPieces: BitField;
    readonly remoteAddress?: string;
    readonly destroyed: boolean;
    /** Payload bytes received from / sent to the peer on this connection. */
    readonly downloaded: number;
    readonly uploaded: number;
    /** The peer chokes us: it serves no request. */
    readonly peerChoking: boolean;
    /** Announces a piece to the peer (BEP 3 `have`). */
    have(index: number): void;
    destroy(): void;
  }

  export interface Torrent extends EventEmitter {
    readonly wires: Wire[];
    readonly infoHash: string;
    readonly name: string;
    readonly ready: boolean;
    readonly done: boolean;
    readonly destroyed: boolean;
    readonly length: number;
    readonly pieceLength: number;
    readonly lastPieceLength: number;
    readonly files: TorrentFile[];
    readonly pieces: unknown[];
    readonly bitfield: BitField | undefined;
    readonly progress: number;
    readonly downloaded: number;
    readonly received: number;
    readonly uploaded: number;
    readonly downloadSpeed: number;
    readonly uploadSpeed: number;
    readonly numPeers: number;
    readonly path: string;
    select(start: number, end: number, priority?: number): void;
    deselect(start: number, end: number): void;
    /** Connects to a peer at `host:port` (tests: a peer the tracker does not know). */
    addPeer(peer: string): boolean;
    destroy(opts?: { destroyStore?: boolean }, cb?: (err?: Error | null) => void): void;
  }

  export default class WebTorrent extends EventEmitter {
    constructor(opts?: WebTorrentOptions);
    readonly torrents: Torrent[];
    readonly torrentPort: number;
    readonly listening: boolean;
    readonly destroyed: boolean;
    readonly peerId: string;
    add(torrentId: Uint8Array | object | string, opts?: AddOptions, ontorrent?: (t: Torrent) => void): Torrent;
    address(): { address: string; family: string; port: number } | null;
    destroy(cb?: (err?: Error | null) => void): void;
    /** Bytes per second; -1 lifts the cap. */
    throttleDownload(rate: number): void;
    throttleUpload(rate: number): void;
  }
}

// Only the classes the patches (patches/) change; their internals are typed there.
declare module 'bittorrent-protocol' {
  export default class Wire {}
}

declare module 'torrent-piece' {
  export default class Piece {
    constructor(length: number);
    readonly length: number;
  }
}

declare module 'webtorrent/lib/torrent.js' {
  export default class Torrent {}
}

declare module 'bittorrent-tracker' {
  import { EventEmitter } from 'node:events';
  import type { Server as HttpServer } from 'node:http';

  export interface ServerOptions {
    interval?: number;
    trustProxy?: boolean;
    http?: boolean | object;
    udp?: boolean | object;
    ws?: boolean | object;
    stats?: boolean;
    filter?: (infoHash: string, params: object, cb: (err?: Error | null) => void) => void;
  }

  export class Server extends EventEmitter {
    constructor(opts?: ServerOptions);
    readonly http: HttpServer | null;
    readonly torrents: Record<string, { peers: { keys: string[] } } | undefined>;
    listen(port: number, hostname?: string, onlistening?: () => void): void;
    close(cb?: (err?: Error | null) => void): void;
  }
}

declare module 'create-torrent' {
  // Tests compare makeTorrent's output with create-torrent's; production does not call it.
  export default function createTorrent(
    input: string | string[],
    opts: Record<string, unknown>,
    cb: (err: Error | null, torrent: Uint8Array) => void,
  ): void;
}

declare module 'parse-torrent' {
  // Tests compare torrent-file.ts's reading with parse-torrent's (webtorrent's own parser).
  export interface ParsedTorrent {
    infoHash: string;
    name: string;
    announce: string[];
    files: { path: string; name: string; length: number; offset: number }[];
    length: number;
    pieceLength: number;
    lastPieceLength: number;
    pieces: string[];
  }
  export default function parseTorrent(torrentId: Uint8Array): Promise<ParsedTorrent>;
}
