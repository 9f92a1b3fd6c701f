// The one catalogue of bft2's errors. Each error has a stable code (for logs, tests and
// the README table) and the user-facing text (the API `desc`, the first line of a `.err`).
// Where the seed interface document gives a text, it is reproduced word for word, typos
// included ("erro"), because TMS integrations match on it.
// A shipped code is never reused for another meaning.

export class Bft2Error extends Error {
  /** A key of `catalogue`. */
  readonly code: string;
  /** Unrecoverable errors skip the retry policy (a bad task file will not get better). */
  readonly unrecoverable: boolean;
  constructor(code: string, message: string, unrecoverable = true) {
    super(message);
    this.name = 'Bft2Error';
    this.code = code;
    this.unrecoverable = unrecoverable;
  }
}

interface Entry<A extends unknown[]> {
  summary: string;
  text: (...args: A) => string;
  unrecoverable: boolean;
}

function make<A extends unknown[]>(summary: string, text: (...args: A) => string, unrecoverable = true): Entry<A> {
  return { summary, text, unrecoverable };
}

/** Every error bft2 reports. `summary` is what the README's error table says of it. */
export const catalogue = {
  CONFIG_INVALID: make('config.json is missing, not JSON, or has a field that fails the schema',
    (file: string, problems: string[]) => `invalid config ${file}: ${problems.join('; ')}`),
  CONFIG_UNUSABLE: make('the daemon cannot start with a valid config value: an address in use or not of this machine, a store path it cannot create',
    (key: string, value: string, reason: string) => `cannot start: config.json ${key} ${JSON.stringify(value)}: ${reason}`),
  TASK_OPEN: make('the task file cannot be opened',
    (file: string, reason = 'no such file or directory') => `open json file error:open ${file}: ${reason}`),
  TASK_JSON: make('the task file is not valid JSON (after the grace period, for spool files)',
    (file: string) => `invalid json format:${file}`),
  TASK_SCHEMA: make('a task field is missing or has the wrong type',
    (file: string, problems: string[]) => `invalid task file ${file}: ${problems.join('; ')}`),
  TASK_UNSAFE_PATH: make('a `file`, `name` or `basesubdir` would point outside the DCP (absolute, `..`, `/`, NUL, `\\`)',
    (field: string, value: string, why: string) => `unsafe path in ${field}: ${JSON.stringify(value)} (${why})`),
  TASK_NAME_REFUSED: make('a task `name`, `basesubdir`, file path segment or task file name is reserved (`.bft2-...`) or too long for the filesystem once bft2 adds its suffixes',
    (field: string, value: string, why: string) => `impossible name in ${field}: ${JSON.stringify(value.length > 80 ? value.slice(0, 80) + '...' : value)} ${why}`),
  TASK_PATH_TOO_LONG: make('a file of the task would have a path longer than the filesystem allows (PATH_MAX) in the transfer area or the store',
    (file: string, bytes: number, max: number) => `path too long: ${file} would need ${bytes} bytes under this node's directories, at most ${max} are allowed`),
  TASK_NOT_UTF8: make('a task file is not valid UTF-8 (names would be stored with replaced bytes)',
    (file: string, offset: number) => `taskfile is not valid UTF-8: ${file} (first bad byte at offset ${offset})`),
  TASK_QUARANTINED: make('the daemon stopped unexpectedly at two starts in a row while this task ran: it is set aside (delete its .err to try again)',
    (crashes: number) => `quarantined: the daemon stopped unexpectedly ${crashes} times in a row while this task was running; it is set aside so every other task runs. Delete this .err to try it again`),
  TASK_FILENAME: make('a task file name does not end with `.task.json`',
    (file: string) => `taskfile name must end with .task.json: ${file}`),
  TASK_TOTAL_ZERO: make('the total size of the task is 0',
    (file: string) => `total files size equal 0 :${file}`),
  TASK_SIZE_LISTS: make('`size` differs from the sum of btlist + obslist + cdnlist',
    (file: string) => `totalsize != all lists sum : ${file}`),
  TASK_SIZE_LISTS2: make('`size` differs from the sum of the lists2 plus the local-same files',
    (file: string) => `totalsize != all lists2 sum + localsamesize : ${file}`),
  TASK_LISTS: make('the method lists do not partition `filelist` (a file missing, unknown or listed twice)',
    (file: string, detail: string) => `task lists do not match filelist: ${detail} : ${file}`),
  TASK_NO_URL: make('a method has files to carry but its URL is empty',
    (method: string, field: string, file: string) => `${method} has files but ${field} is empty : ${file}`),
  METHOD_UNAVAILABLE: make('the task gives a share to a method this node cannot run yet',
    (method: string) => `${method} method not available on this node yet`),
  SAME_IN_STATE: make('a task of the same name is already queued or running',
    (state: string, file: string) => `same taskfile in ${state}:${file}`),
  MOVE_TO_TMP: make('the task file could not be copied into the receiver tmp directory',
    (dir: string) => `move json file to ${dir} erro`),
  DOWNLOAD_FAILED: make('a file could not be downloaded after all retries',
    (method: string, file: string, reason: string) => `${method} download error: ${file}: ${reason}`, false),
  SHA1_MISMATCH: make('a downloaded file does not match its sha1 in the task',
    (file: string, expected: string, actual: string) => `sha1 mismatch: ${file}: expected ${expected}, got ${actual}`, false),
  STORE_FAILED: make('the finished DCP could not be moved into the store',
    (dir: string, reason: string) => `could not store dcp ${dir}: ${reason}`, false),
  UNKNOWN_TASK: make('no task of that name in any spool directory',
    () => 'unknown task, not found task.'),
  CACHER_PROGRESS: make('`progress` asked of a cacher',
    () => 'do not support cacher type progress, change method_name to cprogress'),
  REQUEST_NOT_JSON: make('an API request body is not JSON',
    (reason: string) => `invalid request: body is not JSON (${reason})`),
  REQUEST_BAD_ENVELOPE: make('an API request body is JSON but not the request envelope',
    (detail: string) => `invalid request: ${detail}`),
  UNKNOWN_METHOD: make('an API method name bft2 does not know',
    (method: string) => `unknown method: ${method}`),
  METHOD_NOT_READY: make('an API method of the seed that this node does not provide yet',
    (method: string) => `method ${method} is not available on this node yet`),
  METHOD_NOT_FOR_ROLE: make('an API method this node\'s servertype does not serve',
    (method: string, role: string, roles: string) => `do not support ${role} type ${method}, ${method} is for ${roles} type`),
  MISSING_PARAM: make('a required API parameter is missing or empty',
    (name: string) => `missing parameter: ${name}`),
  REACTIVE_INPUT: make('`reactive` is neither true nor false',
    () => 'reactive parameter input error '),
  GENTASK_NO_TASKFILE: make('gentask without a taskfile',
    () => 'error, please provide taskfile path.'),
  GENTASK_NO_DCPPATH: make('gentask for a dcppath that does not exist or is not a directory',
    (dcppath: string) => `error, not exist dcp path: ${dcppath}.`),
  GENTASK_BUSY: make('gentask for a DCP whose torrent is being made',
    (torrent: string) => `same torrent process is generating:${torrent} `),
  GENTASK_BAD_PARAM: make('a gentask parameter has a wrong value',
    (name: string, value: string, why: string) => `gentask parameter ${name} ${JSON.stringify(value)}: ${why}`),
  GENTASK_FAILED: make('making the torrents or the task file failed',
    (taskfile: string, reason: string) => `gentask failed for ${taskfile}: ${reason}`),
  SEND_NO_TORRENT: make('send of a task whose torrent is missing',
    (torrent: string) => `not found torrent:${torrent} pls re generate task and torrent. `),
  SEND_SEEDING: make('send (reactive false) of a task whose same-name torrent is still seeding',
    (torrent: string, taskfile: string) => `exisited same name ct torrent bt process, send task failed: ${torrent} in ${taskfile} `),
  SEND_RESTART: make('send (reactive true) could not stop the same-name seeding',
    (torrent: string, taskfile: string) => `restart bt serving failed: ${torrent} in ${taskfile} `),
  SEND_COPY: make('send could not copy the task file into the sender tmp directory',
    (taskfile: string) => `copy taskfile: ${taskfile} error.`),
  UPLOAD_FAILED: make('a method of a sender task failed (the text names the method)',
    (method: string, reason: string) => `${method}: ${reason}`, false),
  BT_TORRENT_FETCH: make('a torrent or -tmp torrent could not be downloaded from its URL (retried)',
    (url: string, tmp: boolean) => `could not download ${tmp ? 'tmptorrent' : 'torrent'} from ${url}`, false),
  BT_TORRENT_FILES: make('the torrent does not hold the files the task gives BitTorrent',
    (url: string, differences: string[]) => `taskfile btlist is not equal torrent content, check taskfile or tmp torrent: ${url} (${differences.join('; ')})`),
  BT_TORRENT_UNSAFE: make('a torrent whose name or file paths would leave its directory',
    (url: string, what: string) => `unsafe torrent ${url}: ${what}`),
  BT_TORRENT_INVALID: make('a torrent that is not whole: piece length, piece count, piece hashes, file lengths or sizes out of bounds or inconsistent',
    (where: string, problem: string) => `invalid torrent ${where}: ${problem}`),
  BT_LIBRARY_VERSION: make('an installed BitTorrent package is not the exact version bft2\'s patches of its internals were written for (the daemon does not start)',
    (problems: string[]) => `BitTorrent libraries do not match the versions bft2 patches: ${problems.join('; ')}; reinstall with \`npm ci\``),
  BT_NO_TMPURL: make('a task splitting BitTorrent\'s share has no bt.tmpurl',
    () => 'need tmptorrent and found bt.tmpurl is empty.'),
  OBS_URL_INVALID: make('an obs:// URL or an object key made from a task is not valid',
    (detail: string) => detail),
  OBS_CREDENTIALS: make('no usable OBS credentials or endpoint for a bucket (task, obsbuckets.txt, config)',
    (detail: string) => detail),
  OBS_UPLOAD_SOURCE: make('a file of the OBS share is missing or differs from the task',
    (file: string, why: string) => `obs upload error: ${file}: ${why}`),
  OBS_UPLOAD_FAILED: make('a file could not be uploaded to OBS after all retries',
    (file: string, reason: string) => `obs upload error: ${file}: ${reason}`, false),
  DAEMON_RUNNING: make('another daemon already runs on this root',
    (root: string) => `another bft2 daemon is already running on root ${root}`),
  API_UNREACHABLE: make('the CLI could not reach the daemon API',
    (address: string, reason: string) => `cannot reach the bft2 daemon at ${address}: ${reason} (is \`bft2 daemon\` running?)`),
  TASK_NOT_REGULAR: make('a task file is a symlink, FIFO, device, socket or directory (spool entries are read only when regular files)',
    (file: string, what: string) => `taskfile is not a regular file: ${file} is ${what}`),
  TASK_TOO_LARGE: make('a task file is larger than 16 MiB',
    (file: string, size: number, max: number) => `taskfile too large: ${file} has ${size} bytes, at most ${max} are read`),
  FILE_NOT_REGULAR: make('a file to publish or seed is missing, a symlink or not a regular file',
    (what: string, file: string, why: string) => `${what} ${file} is ${why}: only regular files are published`),
  PATH_OUTSIDE: make('a path to publish or seed leads outside the directory it must stay in (the store)',
    (what: string, file: string, root: string) => `${what} ${file} is outside ${root}: refused`),
  PUBLISH_MISMATCH: make('a file to publish differs from the task (size or sha1)',
    (file: string, why: string) => `refusing to publish ${file}: ${why}`),
  DISK_FULL: make('a filesystem is full (ENOSPC/EDQUOT): the task stops, keeps its bytes, and resumes after its .err is deleted',
    (fs: string, free: number, needed: number) => `disk full: ${fs} has ${free} bytes free, the task still needs ${needed} bytes; free space, then delete this .err to resume`),
  HTTP_FAILED: make('an HTTP request failed in a way more tries will not cure (status, redirect, URL, certificate)',
    (detail: string) => detail, false),
  TASK_BAD_URL: make('a method\'s URL in the task has a scheme bft2 does not fetch (http(s) for BT and CDN, obs:// for OBS)',
    (field: string, url: string, wanted: string, file: string) => `${field} ${JSON.stringify(url)} must start with ${wanted} : ${file}`),
  CACHER_NO_BT_SHARE: make('a task given to a cacher has no BitTorrent share (a cacher only downloads and seeds BT shares)',
    () => 'no bt share in taskfile, nothing for a cacher to seed.'),
} as const;

export type ErrorCode = keyof typeof catalogue;

type Builders = {
  [K in ErrorCode]: (typeof catalogue)[K] extends Entry<infer A> ? (...args: A) => Bft2Error : never;
};

/** `errors.TASK_JSON(file)` builds the error with its code and text. */
export const errors = Object.fromEntries(
  Object.entries(catalogue).map(([code, entry]) => [
    code,
    (...args: unknown[]) => new Bft2Error(code, (entry.text as (...a: unknown[]) => string)(...args), entry.unrecoverable),
  ]),
) as Builders;

export function isBft2Error(err: unknown): err is Bft2Error {
  return err instanceof Bft2Error;
}

/** The user-facing text of any thrown value. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
