// The checks a task must pass before bft2 acts on it (SPEC §4 and the seed's `recv`
// errors), as pure functions: raw JSON in, a validated task and its download plan out, or
// a Bft2Error with the seed's text. No I/O here.
import { errors } from '../errors/catalogue.ts';
import { describeZodIssues } from '../config/load-config.ts';
import { taskSchema, METHODS, LIST_KEY, type Task, type Method, type FileEntry } from './schema.ts';
import { nameProblem as impossibleName } from '../config/paths.ts';

/** Why a relative path is unsafe as a file inside a DCP, or undefined when it is safe. */
export function unsafeRelativePath(p: string): string | undefined {
  if (p.includes('\0')) return 'contains NUL';
  if (p.includes('\\')) return 'contains a backslash';
  if (p.startsWith('/')) return 'is absolute';
  const segments = p.split('/');
  if (segments.some((s) => s === '')) return 'has an empty segment';
  if (segments.some((s) => s === '..')) return 'has a .. segment';
  if (segments.some((s) => s === '.')) return 'has a . segment';
  return undefined;
}

/** Why a value is not one plain path segment (for `name`, `basesubdir`). */
export function unsafeSegment(s: string): string | undefined {
  if (s.includes('/')) return 'contains /';
  return unsafeRelativePath(s);
}

export interface DownloadPlan {
  /** lists minus the local-same files, per method (the seed's "lists2"). */
  lists2: Record<Method, string[]>;
  sizes2: Record<Method, number>;
  localsame: string[];
  localsameSize: number;
}

/** Parses and checks a task object; `where` names the file in error texts. */
export function validateTask(raw: unknown, where: string): Task {
  const parsed = taskSchema.safeParse(raw);
  if (!parsed.success) throw errors.TASK_SCHEMA(where, describeZodIssues(parsed.error));
  const task = parsed.data;

  const nameProblem = unsafeSegment(task.name);
  if (nameProblem) throw errors.TASK_UNSAFE_PATH('name', task.name, nameProblem);
  if (task.basesubdir !== '') {
    const p = unsafeSegment(task.basesubdir);
    if (p) throw errors.TASK_UNSAFE_PATH('basesubdir', task.basesubdir, p);
  }
  const refused = (field: string, value: string) => {
    const why = impossibleName(value);
    if (why) throw errors.TASK_NAME_REFUSED(field, value, why);
  };
  refused('name', task.name);
  if (task.basesubdir !== '') refused('basesubdir', task.basesubdir);
  const seen = new Set<string>();
  for (const entry of task.filelist) {
    const p = unsafeRelativePath(entry.file);
    if (p) throw errors.TASK_UNSAFE_PATH('filelist.file', entry.file, p);
    for (const segment of entry.file.split('/')) refused('filelist.file', segment);
    if (seen.has(entry.file)) throw errors.TASK_LISTS(where, `${entry.file} appears twice in filelist`);
    seen.add(entry.file);
  }
  // A file that is also a directory prefix of another (a and a/b) cannot both be stored.
  for (const f of seen) {
    const parts = f.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (seen.has(parts.slice(0, i).join('/'))) throw errors.TASK_LISTS(where, `${parts.slice(0, i).join('/')} is both a file and a directory`);
    }
  }

  const total = task.filelist.reduce((sum, f) => sum + f.size, 0);
  if (task.size === 0 || total === 0) throw errors.TASK_TOTAL_ZERO(where);

  const bySize = new Map(task.filelist.map((f) => [f.file, f.size]));
  const listed = new Map<string, Method>();
  for (const m of METHODS) {
    for (const f of task[LIST_KEY[m]]) {
      if (!bySize.has(f)) throw errors.TASK_LISTS(where, `${LIST_KEY[m]} names ${f}, which is not in filelist`);
      const other = listed.get(f);
      if (other) throw errors.TASK_LISTS(where, `${f} is in both ${LIST_KEY[other]} and ${LIST_KEY[m]}`);
      listed.set(f, m);
    }
  }
  const unlisted = task.filelist.filter((f) => !listed.has(f.file)).map((f) => f.file);
  if (unlisted.length) throw errors.TASK_LISTS(where, `not in any method list: ${unlisted.slice(0, 5).join(', ')}${unlisted.length > 5 ? ', ...' : ''}`);

  const listsTotal = [...listed.keys()].reduce((sum, f) => sum + bySize.get(f)!, 0);
  if (task.size !== listsTotal || task.size !== total) throw errors.TASK_SIZE_LISTS(where);
  // Declared per-method sizes, when given, must agree with the lists.
  for (const m of METHODS) {
    const declared = (task as Record<string, unknown>)[`${m}listsize`];
    if (declared === undefined || declared === '') continue;
    const computed = task[LIST_KEY[m]].reduce((sum, f) => sum + bySize.get(f)!, 0);
    if (Number(declared) !== computed) throw errors.TASK_SIZE_LISTS(where);
  }
  return task;
}

/** Splits each method's list into what must be downloaded and what is already here. */
export function planDownload(task: Task, localSame: ReadonlySet<string>, where: string): DownloadPlan {
  const bySize = new Map(task.filelist.map((f: FileEntry) => [f.file, f.size]));
  const lists2 = {} as Record<Method, string[]>;
  const sizes2 = {} as Record<Method, number>;
  for (const m of METHODS) {
    lists2[m] = task[LIST_KEY[m]].filter((f) => !localSame.has(f));
    sizes2[m] = lists2[m].reduce((sum, f) => sum + bySize.get(f)!, 0);
  }
  const localsame = task.filelist.map((f) => f.file).filter((f) => localSame.has(f));
  const localsameSize = localsame.reduce((sum, f) => sum + bySize.get(f)!, 0);
  if (sizes2.bt + sizes2.obs + sizes2.cdn + localsameSize !== task.size) throw errors.TASK_SIZE_LISTS2(where);

  const urls: Record<Method, [string, string]> = {
    bt: [task.bt.tmpurl || task.bt.url, 'bt.url'],
    obs: [task.obs.url, 'obs.url'],
    cdn: [task.cdn.url, 'cdn.url'],
  };
  for (const m of METHODS) {
    if (lists2[m].length === 0) continue;
    const [url, field] = urls[m];
    if (!url) throw errors.TASK_NO_URL(m, field, where);
    // Refused now rather than after the task has waited for its window: a URL bft2 will never fetch.
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1].toLowerCase();
    const wanted = m === 'obs' ? ['obs'] : ['http', 'https'];
    if (!scheme || !wanted.includes(scheme)) throw errors.TASK_BAD_URL(field, url, wanted.map((w) => `${w}://`).join(' or '), where);
  }
  return { lists2, sizes2, localsame, localsameSize };
}

/** Methods this node can run; a task giving a share to another one is refused clearly. */
export function checkMethodsAvailable(plan: DownloadPlan, available: ReadonlySet<Method>): void {
  for (const m of METHODS) {
    if (plan.lists2[m].length > 0 && !available.has(m)) throw errors.METHOD_UNAVAILABLE(m);
  }
}
