import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import winston from 'winston';
import { ReopenableFileTransport, createLogger, reopenLogs, closeLogger } from '../../src/log/logger.ts';

test('reopen after a rename: the next line goes to a new file at the original path', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-log-'));
  try {
    const file = path.join(dir, 'bftv2.log');
    const log = createLogger(file);
    log.info('before rotation');
    await rename(file, `${file}.1`);
    log.info('still into the renamed file');
    reopenLogs(log);
    log.info('after reopen');
    await closeLogger(log);
    assert.match(await readFile(`${file}.1`, 'utf8'), /before rotation\n.*still into the renamed file\n$/);
    assert.match(await readFile(file, 'utf8'), /^\S+ \S+ info: after reopen\n$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('size cap: past maxBytes the log is set aside as .old, so two files at most', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-log-'));
  try {
    const file = path.join(dir, 'x.log');
    const log = winston.createLogger({ format: winston.format.printf((i) => String(i.message)), transports: [new ReopenableFileTransport(file, 1000)] });
    for (let i = 0; i < 100; i++) log.info(`line ${i} ${'x'.repeat(40)}`);
    await closeLogger(log);
    assert.ok((await stat(file)).size <= 1000 + 60);
    assert.ok((await stat(`${file}.old`)).size <= 1000 + 60);
    assert.match(await readFile(file, 'utf8'), /line 99 x+\n$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
