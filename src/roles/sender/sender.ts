// The sender's spool (SPEC §5, sender): tmp → queues → uploading → uploaded → history.
// For now only its front half runs: complete-file detection in `tmp` and `queues`, `.err`
// for files that never parse or fail validation, and `autosend` (a complete task in `tmp`
// moves to `queues` as `send` with reactive false would). Uploading comes with the sender
// issue: until then queued tasks wait in `queues`, and the log says so.
// Owns: the sender spool. Must not touch: the receiver spool, the store.
import { SENDER_STATES, type SenderState } from '../../config/paths.ts';
import { TaskSpool } from '../../spool/task-spool.ts';
import { SpoolWatcher } from '../../spool/spool-watcher.ts';
import { validateTask } from '../../task/validate-task.ts';
import { errors, isBft2Error, messageOf } from '../../errors/catalogue.ts';
import type { DaemonContext } from '../../daemon/context.ts';

export class Sender {
  readonly spool: TaskSpool<SenderState>;
  private watchers: SpoolWatcher[] = [];

  constructor(private readonly ctx: DaemonContext) {
    this.spool = new TaskSpool(ctx.paths, 'sender', SENDER_STATES, ctx.log);
  }

  async start(): Promise<void> {
    await this.spool.ensureDirs();
    await this.spool.reconcileMarkers();
    const markUnparseable = (state: SenderState) => async ({ task, file }: { task: string; file: string }) => {
      const err = errors.TASK_JSON(file);
      this.ctx.log.error(`${err.code} ${err.message}`);
      await this.spool.writeErr(state, task, err.message);
    };
    this.watchers = [
      new SpoolWatcher(this.spool.dir('tmp'), { ready: (t) => this.autosend(t.task, t.file, t.raw), unparseable: markUnparseable('tmp') }, this.ctx.log),
      new SpoolWatcher(
        this.spool.dir('queues'),
        {
          ready: ({ task }) => void this.ctx.log.warn(`sender task ${task} waits in queues: uploading is not available on this node yet`),
          unparseable: markUnparseable('queues'),
        },
        this.ctx.log,
      ),
    ];
    for (const w of this.watchers) await w.start();
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) await w.close();
  }

  private async autosend(task: string, file: string, raw: unknown): Promise<void> {
    if (!this.ctx.config().autosend) return;
    try {
      validateTask(raw, file);
      await this.spool.withLock(task, async () => {
        for (const l of await this.spool.locate(task)) {
          if (l.state === 'queues' || l.state === 'uploading') throw errors.SAME_IN_STATE(l.state, l.file);
        }
        await this.spool.move(task, 'tmp', 'queues');
      });
      this.ctx.log.info(`autosend: ${task} moved to queues`);
    } catch (err) {
      this.ctx.log.error(`${isBft2Error(err) ? err.code : 'ERROR'} autosend ${task}: ${messageOf(err)}`);
      await this.spool.writeErr('tmp', task, messageOf(err));
    }
  }
}
