// gentask and taskfilesquery (SPEC §7, seed §4.3.5–4.3.6): turns a DCP of the store into
// a task file. `start` answers at once; the work runs in the background: list the files,
// take their sha1 from the hash table (hashing only what is missing, in the same reads
// that make the torrent), allocate the files to the methods, make the full torrent and,
// when BT has only a share, the `-tmp` share directory of hard links and its torrent,
// fill URLs and windows, and write the task file last, atomically. `btobscdn auto` takes
// the split from the planner (src/plan/auto-split.ts) and the log line says which. With
// `usetorrent` an existing torrent of the DCP (the old system's, made by ctorrent in its
// own file order) is adopted instead of making one: checked against the DCP first
// (adopt-torrent.ts).
// Owns: the DCP's torrents, its `dcps-tmp/<name>-tmp` directory, the task file it is asked
// to write. Must not touch: the DCP's data (read only), the spools.
import { stat, lstat, rm, mkdir, link, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errors, isBft2Error, messageOf } from '../../errors/catalogue.ts';
import { allocate, parseRatio } from '../../task/allocate.ts';
import { unsafeSegment } from '../../task/validate-task.ts';
import { makeTorrent, readTorrentFiles, isTorrentSkipped, torrentFileOrder, type TorrentInfo } from '../../transfer/bt/make-torrent.ts';
import { autoSplit, type AutoSplit } from '../../plan/auto-split.ts';
import type { Policy } from '../../plan/fleet-model.ts';
import { writeFileDurable, writeJsonDurable } from '../../spool/durable-fs.ts';
import { walkStore, type FileStat } from '../../hashtable/store-walk.ts';
import { assertPublishableTree, pathInside, regularFileInside } from '../../trust/confined-file.ts';
import type { HashTableStore } from '../../hashtable/hash-table.ts';
import type { IndexEntry } from '../../hashtable/reconcile.ts';
import type { DaemonContext } from '../../daemon/context.ts';
import { formatLocalTime } from '../../util/time.ts';
import { readObsBuckets } from '../../transfer/obs/credentials.ts';
import { METHODS } from '../../task/schema.ts';
import { AdoptError, adoptionProblems, readAdoptable, verifyAgainstData, type ReadTorrent } from './adopt-torrent.ts';
import { taskUrls, storeRelative } from '../../task/task-urls.ts';

export interface GenTaskParams {
  /** What dcppath is: a DCP directory, or a single file. */
  type: 'dir' | 'file';
  dcppath: string;
  taskfile: string;
  basesubdir: string;
  btobscdn: string;
  policy: string;
  tracker?: string;
  seedtime?: string;
  datasource?: string;
  obsurl?: string;
  ak?: string;
  sk?: string;
  endpoint?: string;
  deloldtorrent?: string;
  /** With btobscdn `auto`: the release date the planner must meet. */
  deadline?: string;
  /** An existing .torrent of the DCP to adopt (the old system's) instead of making one. */
  usetorrent?: string;
}

/** What a gentask found before it starts (see TaskGenerator.survey). */
interface Survey {
  files: FileStat[];
  /** Files whose sha1 the hash table vouches for, by relative path. */
  known: Map<string, IndexEntry>;
  reuseFull: boolean;
  /** The task's filelist when the full torrent is kept (every hash known). */
  filelist?: { file: string; hash: string; size: number }[];
  shareReusable: boolean;
  /** The torrents to make (the task file is always written). */
  toMake: string[];
  /** The torrent to adopt (usetorrent), read and matched with the DCP's files; its pieces are checked in the background. */
  adopt?: ReadTorrent;
}

interface Job {
  dcppath: string;
  taskfile: string;
  torrent: string;
  state: 'generating' | 'finished' | 'error';
  step: string;
  error?: string;
}

/** Where a DCP's torrents live (SPEC §2): beside the DCP dirs of its basesubdir. */
export function torrentPaths(basedata: string, basesubdir: string, name: string) {
  const tmpDir = path.join(basedata, basesubdir, 'dcps-tmp');
  return {
    full: path.join(basedata, basesubdir, 'dcps', `${name}.torrent`),
    shareDir: path.join(tmpDir, `${name}-tmp`),
    shareTorrent: path.join(tmpDir, `${name}-tmp.torrent`),
    /** A single file's torrent is made from `<this>` (a directory named after the file, holding a hard link of it). */
    fileWrap: path.join(tmpDir, `${name}-file`, name),
  };
}

/** The directory whose files a task names: the DCP; for a single file, the directory holding it. */
function contentDirOf(p: Pick<GenTaskParams, 'type' | 'dcppath'>): string {
  return p.type === 'file' ? path.dirname(p.dcppath) : p.dcppath;
}

/** `<wrap>/<file name>` as a hard link of `file`; returns `<wrap>` (named as the file). */
async function linkSingleFile(file: string, wrap: string): Promise<string> {
  await rm(path.dirname(wrap), { recursive: true, force: true });
  await mkdir(wrap, { recursive: true });
  await link(file, path.join(wrap, path.basename(file)));
  return wrap;
}

const str = (v: unknown) => (typeof v === 'string' ? v.trim() : v === undefined || v === null ? '' : String(v));

export class TaskGenerator {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly ctx: DaemonContext,
    private readonly hashes: HashTableStore,
  ) {}

  /** Checks the parameters, starts the work, answers the seed's "please wait" text. */
  async start(raw: Record<string, unknown>): Promise<string> {
    const taskfile = str(raw.taskfile);
    if (!taskfile) throw errors.GENTASK_NO_TASKFILE();
    const dcppath = str(raw.dcppath).replace(/\/+$/, '');
    // A directory (a DCP: type "dir") or a single regular file (type "file", seed §4.1).
    const kind = dcppath ? await lstat(dcppath).then((s) => (s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined), () => undefined) : undefined;
    if (!kind) throw errors.GENTASK_NO_DCPPATH(dcppath);
    const config = this.ctx.config();
    // A sender publishes only its own store (SPEC §4): a DCP elsewhere is refused now.
    await pathInside(this.ctx.paths.basedata(config), dcppath, 'dcppath');
    const p: GenTaskParams = {
      type: kind,
      dcppath: path.resolve(dcppath),
      taskfile: path.resolve(taskfile),
      basesubdir: str(raw.basesubdir) || config.basesubdir,
      btobscdn: str(raw.btobscdn) || config['bt-obs-cdn'],
      policy: str(raw.policy) || config.priorpolicy,
      tracker: str(raw.tracker) || config.tracker,
      seedtime: str(raw.seedtime) || String(config.defaultseedtime),
      datasource: str(raw.datasource) || config.datasource,
      obsurl: str(raw.obsurl),
      ak: str(raw.ak),
      sk: str(raw.sk),
      endpoint: str(raw.endpoint),
      deloldtorrent: str(raw.deloldtorrent) || 'false',
      deadline: str(raw.deadline),
      usetorrent: str(raw.usetorrent) ? path.resolve(str(raw.usetorrent)) : '',
    };
    const bad = (name: string, value: string, why: string) => errors.GENTASK_BAD_PARAM(name, value, why);
    const chosen = await this.autoSplit(p, str(raw.policy) !== '').catch((err) => {
      throw bad(p.btobscdn === 'auto' ? 'btobscdn' : 'deadline', p.btobscdn === 'auto' ? 'auto' : p.deadline!, messageOf(err));
    });
    if (!p.basesubdir || unsafeSegment(p.basesubdir)) throw bad('basesubdir', p.basesubdir, 'must be one plain directory name, e.g. cfec-001');
    try {
      parseRatio(p.btobscdn);
    } catch (err) {
      throw bad('btobscdn', p.btobscdn, messageOf(err));
    }
    if (p.policy !== 'fulltime' && p.policy !== 'priortime') throw bad('policy', p.policy, 'must be fulltime or priortime');
    if (!/^\d+(\.\d+)?$/.test(p.seedtime!)) throw bad('seedtime', p.seedtime!, 'must be a number of hours');
    if (p.datasource !== 'local' && p.datasource !== 'obs') throw bad('datasource', p.datasource!, 'must be local or obs');
    if (!['true', 'false'].includes(p.deloldtorrent!)) throw bad('deloldtorrent', p.deloldtorrent!, 'must be true or false');
    if (!p.taskfile.endsWith('.task.json')) throw errors.TASK_FILENAME(p.taskfile);

    const name = path.basename(p.dcppath);
    const t = torrentPaths(this.ctx.paths.basedata(config), p.basesubdir, name);
    for (const job of this.jobs.values()) {
      if (job.state === 'generating' && (job.dcppath === p.dcppath || job.taskfile === p.taskfile)) throw errors.GENTASK_BUSY(job.torrent);
    }
    const job: Job = { dcppath: p.dcppath, taskfile: p.taskfile, torrent: t.full, state: 'generating', step: 'listing files' };
    this.jobs.set(p.taskfile, job);
    const done = (err?: unknown) => {
      if (err === undefined) {
        job.state = 'finished';
        if (chosen?.late) this.ctx.log.warn(`gentask: ${p.taskfile} written; ${chosen.line}`);
        else this.ctx.log.info(`gentask: ${p.taskfile} written${chosen ? `; ${chosen.line}` : ''}`);
      } else {
        job.state = 'error';
        job.error = isBft2Error(err) ? err.message : errors.GENTASK_FAILED(p.taskfile, messageOf(err)).message;
        this.ctx.log.error(`gentask ${p.taskfile}: ${job.error}`);
      }
    };
    // The seed: with the torrents prepared beforehand (and deloldtorrent false) the task is
    // written at once and the answer is "succeeded!"; else the work runs in the background
    // and the answer names what it will make.
    let survey: Survey;
    try {
      survey = await this.survey(p);
    } catch (err) {
      done(err);
      throw isBft2Error(err) ? err : errors.GENTASK_FAILED(p.taskfile, messageOf(err));
    }
    if (survey.toMake.length === 0) {
      await this.generate(p, job, survey).then(() => done(), (err) => {
        done(err);
        throw err;
      });
      return 'succeeded!';
    }
    void this.generate(p, job, survey).then(() => done(), done);
    const names = [...survey.toMake, p.taskfile];
    return `please wait until ${names.slice(0, -1).join(', ')}${names.length > 1 ? ' and ' : ''}${names.at(-1)} ${names.length > 1 ? 'all are' : 'is'} finished.`;
  }

  /**
   * `btobscdn auto`: the planner's split for the fleet in etc/bft2/fleet.json and this DCP's
   * files (and its policy, unless the call names one) goes into `p`. Undefined otherwise.
   */
  private async autoSplit(p: GenTaskParams, policyGiven: boolean): Promise<AutoSplit | undefined> {
    if (p.btobscdn !== 'auto') {
      if (p.deadline) throw new Error('a deadline is for btobscdn auto only');
      return undefined;
    }
    if (!p.deadline) throw new Error('auto needs a deadline, "YYYY-MM-DD HH:MM": when every cinema must have the DCP');
    const sizes = new Map((await walkStore(p.dcppath)).map((f) => [path.relative(p.dcppath, f.path).split(path.sep).join('/'), f.size]));
    const files = torrentFileOrder([...sizes.keys()].filter((f) => !isTorrentSkipped(f))).map((file) => ({ file, size: sizes.get(file)! }));
    const chosen = await autoSplit({ fleetFile: this.ctx.paths.fleetFile, config: this.ctx.config(), configFile: this.ctx.paths.configFile, deadline: p.deadline, files, policy: policyGiven ? (p.policy as Policy) : undefined, now: new Date() });
    p.btobscdn = chosen.split;
    if (!policyGiven) p.policy = chosen.policy;
    return chosen;
  }

  /**
   * What gentask will make for this DCP: the torrents that exist and still match the DCP
   * (the same files with the same sizes; its `-tmp` share exactly the allocated btlist, as
   * hard links of the DCP's files) are kept when deloldtorrent is false — the seed's way to
   * save the hours of hashing a large DCP; every file's sha1 comes from the hash table or
   * from reads that make a torrent.
   */
  private async survey(p: GenTaskParams): Promise<Survey> {
    const config = this.ctx.config();
    const basedata = this.ctx.paths.basedata(config);
    const t = torrentPaths(basedata, p.basesubdir, path.basename(p.dcppath));
    const content = contentDirOf(p);
    let files: FileStat[];
    if (p.type === 'file') {
      await pathInside(basedata, p.dcppath, 'dcp file');
      const st = await regularFileInside(basedata, p.dcppath, 'dcp file');
      files = [{ path: p.dcppath, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }];
    } else {
      await assertPublishableTree(basedata, p.dcppath, 'dcp');
      files = await walkStore(p.dcppath);
    }
    const { entries } = await this.hashes.load();
    const rel = (abs: string) => path.relative(content, abs).split(path.sep).join('/');
    const known = new Map<string, IndexEntry>();
    for (const f of files) {
      const e = entries.get(f.path);
      if (e && e.size === f.size && e.mtimeMs === f.mtimeMs && e.ino === f.ino) known.set(rel(f.path), e);
    }
    const keep = p.deloldtorrent !== 'true';
    const sizes = new Map(files.map((f) => [rel(f.path), f.size]));
    if (p.usetorrent) return this.surveyAdoption(p, t, files, known, sizes);
    const matches = (info: TorrentInfo | undefined, want: Map<string, number>) =>
      info !== undefined && info.files.length === want.size && info.files.every((f) => want.get(f.path) === f.length);
    const fullInfo = keep ? await readFile(t.full).then(readTorrentFiles).catch(() => undefined) : undefined;
    // A torrent that carries every file the task will list (its own listing leaves out junk names).
    const reuseFull = matches(fullInfo, new Map([...sizes].filter(([f]) => !isTorrentSkipped(f)))) && fullInfo!.files.every((f) => known.has(f.path));
    const toMake: string[] = [];
    if (!reuseFull) toMake.push(t.full);
    let filelist: { file: string; hash: string; size: number }[] | undefined;
    let shareReusable = false;
    if (reuseFull) {
      filelist = fullInfo!.files.map((f) => ({ file: f.path, hash: known.get(f.path)!.sha1, size: f.length }));
      const lists = allocate(filelist, parseRatio(p.btobscdn), { ctfilesorder: config.ctfilesorder });
      const split = lists.bt.length > 0 && (lists.obs.length > 0 || lists.cdn.length > 0);
      if (split) {
        const shareInfo = keep ? await readFile(t.shareTorrent).then(readTorrentFiles).catch(() => undefined) : undefined;
        shareReusable = matches(shareInfo, new Map(lists.bt.map((f) => [f, sizes.get(f)!])));
        for (const f of shareReusable ? lists.bt : []) {
          const [a, b] = await Promise.all([stat(path.join(t.shareDir, f)).catch(() => undefined), stat(path.join(content, f))]);
          if (a?.ino !== b.ino) shareReusable = false;
        }
        if (!shareReusable) toMake.push(t.shareTorrent);
      }
    } else {
      // The share's files are known only after the full torrent's order: say it will be made.
      if (parseRatio(p.btobscdn).bt > 0 && (parseRatio(p.btobscdn).obs > 0 || parseRatio(p.btobscdn).cdn > 0)) toMake.push(t.shareTorrent);
    }
    return { files, known, reuseFull, filelist, shareReusable, toMake };
  }

  /**
   * gentask with `usetorrent`: the torrent is read and its files matched with the DCP's now
   * (a wrong torrent is refused in the answer); its pieces are hashed in the background.
   * A split task's `-tmp` share torrent is still bft2's own.
   */
  private async surveyAdoption(p: GenTaskParams, t: ReturnType<typeof torrentPaths>, files: FileStat[], known: Map<string, IndexEntry>, sizes: Map<string, number>): Promise<Survey> {
    const refuse = (why: string) => errors.GENTASK_BAD_PARAM('usetorrent', p.usetorrent!, why);
    let adopt: ReadTorrent;
    try {
      adopt = await readAdoptable(p.usetorrent!);
    } catch (err) {
      throw refuse(messageOf(err));
    }
    const problems = adoptionProblems(adopt.info, path.basename(p.dcppath), sizes);
    if (problems.length) throw refuse(problems.join('; '));
    const ratio = parseRatio(p.btobscdn);
    const toMake = [t.full];
    if (ratio.bt > 0 && (ratio.obs > 0 || ratio.cdn > 0)) toMake.push(t.shareTorrent);
    return { files, known, reuseFull: false, shareReusable: false, toMake, adopt };
  }

  /** taskfilesquery: finished / unfinished (what is being made) / error. */
  async query(raw: Record<string, unknown>): Promise<{ ok: boolean; status: string; desc: string; step?: string }> {
    const dcppath = str(raw.dcppath).replace(/\/+$/, '');
    const taskfile = str(raw.taskfile);
    if (!taskfile) throw errors.MISSING_PARAM('taskfile');
    if (dcppath && !(await stat(dcppath).then((s) => s.isDirectory() || s.isFile(), () => false))) return { ok: false, status: 'error', desc: `not exist ${dcppath} ` };
    const job = this.jobs.get(path.resolve(taskfile));
    // The seed's text word for word (its trailing space too); what is being made goes in `step`.
    if (job?.state === 'generating') return { ok: true, status: 'unfinished', desc: 'process making seed ', step: job.step };
    if (job?.state === 'error') return { ok: false, status: 'error', desc: job.error ?? 'gentask failed' };
    // With autosend the task file may already have moved on from where it was written.
    if (job?.state === 'finished') return { ok: true, status: 'finished', desc: 'succeed!' };
    let text: string;
    try {
      text = await readFile(taskfile, 'utf8');
    } catch {
      return { ok: true, status: 'unfinished', desc: 'no make seed process and not found task.json.' };
    }
    try {
      JSON.parse(text);
    } catch {
      return { ok: false, status: 'error', desc: `open json file error: ${taskfile} ` };
    }
    return { ok: true, status: 'finished', desc: 'succeed!' };
  }

  private async generate(p: GenTaskParams, job: Job, survey: Survey): Promise<void> {
    const config = this.ctx.config();
    const name = path.basename(p.dcppath);
    const basedata = this.ctx.paths.basedata(config);
    const t = torrentPaths(basedata, p.basesubdir, name);
    const { files, known } = survey;
    if (p.deloldtorrent === 'true') {
      for (const f of [p.taskfile, t.full, t.shareTorrent]) await rm(f, { force: true });
      await rm(t.shareDir, { recursive: true, force: true });
      await rm(path.dirname(t.fileWrap), { recursive: true, force: true });
    }

    let filelist = survey.filelist;
    const content = contentDirOf(p);
    // An adopted torrent's own tracker goes into the task (and the -tmp torrent): one swarm, one tracker.
    const tracker = survey.adopt?.info.announce[0] || p.tracker!;
    if (survey.adopt) {
      filelist = await this.adopt(p, job, survey, survey.adopt, t.full);
    } else if (!survey.reuseFull || !filelist) {
      job.step = `making ${t.full}`;
      await mkdir(path.dirname(t.full), { recursive: true });
      // File hashes ride on the torrent's reads only when the table lacks some (they cost
      // CPU); the hash watcher leaves the DCP to them meanwhile (one read, not two).
      const full = await this.hashes.recording(path.resolve(p.dcppath), async () => {
        // A single file's torrent is a directory torrent named after the file holding just
        // it (a hard link, removed once the torrent is made): every reader of torrents sees
        // the one layout, `<name>/<file>`, and a seed serves it from the file's directory.
        const dir = p.type === 'file' ? await linkSingleFile(p.dcppath, t.fileWrap) : p.dcppath;
        try {
          const made = await makeTorrent({ dir, tracker: p.tracker!, outFile: t.full, fileSha1: known.size < files.length });
          const fresh = made.files.filter((f) => !known.has(f.path));
          if (fresh.length) await this.recordHashes(content, fresh.map((f) => ({ rel: f.path, sha1: f.sha1! })));
          return made;
        } finally {
          if (p.type === 'file') await rm(path.dirname(dir), { recursive: true, force: true });
        }
      });
      // A torrent never carries dotfiles or "junk" names (Thumbs.db, ...): they are not part of the DCP's task either.
      if (full.skipped.length) this.ctx.log.warn(`gentask ${p.taskfile}: left out of the task (never carried by a torrent): ${full.skipped.join(', ')}`);
      filelist = full.files.map((f) => {
        const hash = known.get(f.path)?.sha1 ?? f.sha1;
        if (!hash) throw new Error(`no sha1 for ${f.path}`);
        return { file: f.path, hash, size: f.length };
      });
    }

    job.step = 'allocating files to methods';
    const ratio = parseRatio(p.btobscdn);
    const lists = allocate(filelist, ratio, { ctfilesorder: config.ctfilesorder });
    const btOnly = lists.obs.length === 0 && lists.cdn.length === 0;

    const split = lists.bt.length > 0 && !btOnly;
    const urls = taskUrls(config, { basesubdir: p.basesubdir, name, contentDir: storeRelative(basedata, content), btShare: split, obsurl: p.obsurl });
    if (split && !survey.shareReusable) {
      job.step = `making ${t.shareTorrent}`;
      await rm(t.shareDir, { recursive: true, force: true });
      // The share is a directory of hard links, so its torrent holds exactly btlist.
      for (const f of lists.bt) {
        const target = path.join(t.shareDir, f);
        await mkdir(path.dirname(target), { recursive: true });
        await link(path.join(content, f), target);
      }
      const share = await makeTorrent({ dir: t.shareDir, tracker, outFile: t.shareTorrent });
      const inTorrent = share.files.map((f) => f.path).sort();
      if (JSON.stringify(inTorrent) !== JSON.stringify([...lists.bt].sort())) throw new Error(`the -tmp torrent holds ${inTorrent.length} files, btlist ${lists.bt.length}`);
    } else if (!split) {
      await rm(t.shareTorrent, { force: true });
      await rm(t.shareDir, { recursive: true, force: true });
    }
    // A torrent written by an earlier run with other files would mislead receivers.
    const check = await readTorrentFiles(await readFile(t.full));
    if (check.files.length !== filelist.length) throw new Error(`the torrent ${t.full} does not list the DCP's files`);

    const bucket = parseObsBucket(urls.obsUrl);
    const sizes = lists.sizes;
    const list = (l: string[]) => (l.length ? l : ['']);
    const task = {
      sourcetype: 'sender',
      senderid: config.senderid,
      name,
      type: p.type,
      senderlocalpath: path.dirname(p.dcppath),
      basesubdir: p.basesubdir,
      datasource: p.datasource,
      size: filelist.reduce((s, f) => s + f.size, 0),
      'bt-obs-cdn': p.btobscdn,
      policy: p.policy,
      bt: {
        localtorrent: t.full,
        url: urls.btUrl,
        tmpurl: urls.btTmpUrl,
        tracker,
        seedtime: Number(p.seedtime),
        priortime: config.bttime,
      },
      obs: {
        url: urls.obsUrl,
        priortime: config.obstime,
        ...(await this.obsKeysForTask(p, bucket, lists.obs.length > 0)),
      },
      cdn: { url: urls.cdnUrl, priortime: config.cdntime },
      filelist,
      localsamefiles: [''],
      btlist: list(lists.bt),
      obslist: list(lists.obs),
      cdnlist: list(lists.cdn),
      requesters: [{ vip: '', id: '' }],
      btlistsize: sizes.bt,
      obslistsize: sizes.obs,
      cdnlistsize: sizes.cdn,
      btlistsize2: sizes.bt,
      obslistsize2: sizes.obs,
      cdnlistsize2: sizes.cdn,
      gentime: formatLocalTime(),
      sendtime: '',
      receivetime: '',
      finishedtime: '',
    };
    for (const m of METHODS) if (ratio[m] === 0 && lists[m].length) throw new Error(`${m} has share 0 but got files`);
    job.step = `writing ${p.taskfile}`;
    await writeJsonDurable(p.taskfile, task);
  }

  /**
   * The OBS keys a task carries (seed §4.3.5): the ones given to gentask, else — for a task
   * with an OBS share — the config's, so that receivers can read the bucket; none when
   * obsbuckets.txt names the bucket (receivers then have keys of their own).
   */
  private async obsKeysForTask(p: GenTaskParams, bucket: string, hasObsShare: boolean): Promise<{ ak: string; sk: string; endpoint: string }> {
    if (p.ak || p.sk || !hasObsShare) return { ak: p.ak || '', sk: p.sk || '', endpoint: p.endpoint || '' };
    const listed = await readObsBuckets(this.ctx.paths.obsBucketsFile).catch(() => undefined);
    if (listed?.buckets.has(bucket)) return { ak: '', sk: '', endpoint: p.endpoint || '' };
    const config = this.ctx.config();
    return { ak: config.obsak, sk: config.obssk, endpoint: p.endpoint || config.obsendpoint };
  }

  /**
   * Checks every piece of the adopted torrent against the DCP (and takes the sha1 of files
   * the table lacks from the same reads), then puts it where the DCP's full torrent lives.
   * The task's filelist is in the torrent's order.
   */
  private async adopt(p: GenTaskParams, job: Job, survey: Survey, adopt: ReadTorrent, fullTorrent: string): Promise<{ file: string; hash: string; size: number }[]> {
    const { files, known } = survey;
    job.step = `checking ${p.usetorrent} against ${p.dcppath}`;
    const rel = (abs: string) => path.relative(p.dcppath, abs).split(path.sep).join('/');
    const listed = new Map(files.map((f) => [rel(f.path), f]));
    const missing = adopt.info.files.filter((f) => !known.has(f.path));
    const verified = await this.hashes.recording(path.resolve(p.dcppath), async () => {
      try {
        return await verifyAgainstData(adopt, p.dcppath, listed, { fileSha1: missing.length > 0 });
      } catch (err) {
        throw err instanceof AdoptError ? errors.GENTASK_BAD_PARAM('usetorrent', p.usetorrent!, err.message) : err;
      }
    });
    const sha1s = verified.fileSha1s;
    if (sha1s) await this.recordHashes(p.dcppath, adopt.info.files.map((f, i) => ({ rel: f.path, sha1: sha1s[i] })).filter((f) => !known.has(f.rel)));
    const skipped = [...listed.keys()].filter((f) => !adopt.info.files.some((x) => x.path === f));
    if (skipped.length) this.ctx.log.warn(`gentask ${p.taskfile}: left out of the task (not in the adopted torrent, never carried by a torrent): ${skipped.join(', ')}`);
    // Where receivers fetch it (bt.url); the same bytes again when it is already there (deloldtorrent removed it above).
    await writeFileDurable(fullTorrent, adopt.buf);
    this.ctx.log.info(`gentask ${p.taskfile}: adopted ${p.usetorrent} (${adopt.info.infoHash}, ${adopt.info.files.length} files in its own order, ${adopt.info.pieceCount} pieces checked)`);
    return adopt.info.files.map((f, i) => {
      const hash = known.get(f.path)?.sha1 ?? sha1s?.[i];
      if (!hash) throw new Error(`no sha1 for ${f.path}`);
      return { file: f.path, hash, size: f.length };
    });
  }

  /** Hashes computed while making the torrent go into the table (the files were just read). */
  private async recordHashes(dir: string, files: { rel: string; sha1: string }[]): Promise<void> {
    const entries: IndexEntry[] = [];
    for (const f of files) {
      const abs = path.join(dir, f.rel);
      const st = await stat(abs).catch(() => undefined);
      if (st) entries.push({ path: abs, sha1: f.sha1, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    }
    await this.hashes
      .update((s) => {
        for (const e of entries) s.entries.set(e.path, e);
      })
      .catch((err) => this.ctx.log.warn(`gentask: could not add hashes to the table: ${messageOf(err)}`));
  }
}

/** The bucket of an `obs://bucket/...` URL. */
function parseObsBucket(url: string): string {
  return url.replace(/^obs:\/\//, '').split('/')[0];
}
