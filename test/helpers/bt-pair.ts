// Two real BitTorrent clients on loopback for tests of the patches: one seeding a DCP from
// its directory, one empty to download it (the test adds the torrent its own way).
import path from 'node:path';
import { createBtClient, type BtClient } from '../../src/transfer/bt/bt-client.ts';
import { seed } from '../../src/transfer/bt/bt-seed.ts';
import { silentLogger } from '../../src/log/logger.ts';

export interface BtPair {
  seeder: BtClient;
  leecher: BtClient;
  close(): Promise<void>;
}

/** A seeder of `torrentFile` (its data in `dcpDir`) and an empty leecher; close() ends both. */
export async function startBtPair(torrentFile: string, dcpDir: string): Promise<BtPair> {
  const seeder = await createBtClient({ port: 0, log: silentLogger() });
  const leecher = await createBtClient({ port: 0, log: silentLogger() });
  await seed(seeder, { torrentFile, parentDir: path.dirname(dcpDir), trusted: true });
  return {
    seeder,
    leecher,
    async close() {
      await leecher.close();
      await seeder.close();
    },
  };
}
