// The OBS host's server: s3rver (a real S3-compatible store on disk, standing in for
// Huawei OBS as in the tests) on the host's data address, with the task's bucket. Run
// inside the OBS host's namespace by the lab (daemons.ts, startObsHost):
//   node --import tsx lab/lib/obs-host.ts ADDRESS PORT DIR BUCKET
// Prints `ready http://ADDRESS:PORT` once it listens; stops on SIGTERM/SIGINT.
// Credentials: s3rver's own pair S3RVER/S3RVER; mismatched v2 signatures are allowed
// because s3rver signs without the Date header the OBS SDK signs (TESTBED).
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer: { closeAllConnections(): void };
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

const [address, port, directory, bucket] = process.argv.slice(2);
if (!address || !port || !directory || !bucket) {
  console.error('usage: obs-host.ts ADDRESS PORT DIR BUCKET');
  process.exit(2);
}
const server = new S3rver({
  address,
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
  allowMismatchedSignatures: true,
});
const a = await server.run();
console.log(`ready http://${a.address}:${a.port}`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  server.httpServer.closeAllConnections();
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
