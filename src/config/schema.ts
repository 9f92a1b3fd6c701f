// The schema of <root>/etc/bft2/config.json: the one place where every config key, its
// type and its default are declared. Validation, defaults and the `Config` type all come
// from here. Seed keys keep the seed's meaning (SPEC §3); the bft2 keys are fixed names.
import { z } from 'zod';
import { windowProblem } from '../schedule/windows.ts';
import { rateProblem } from '../schedule/rate.ts';
import { reserveProblem } from '../schedule/disk-reserve.ts';
import { priceProblem } from '../schedule/price.ts';
import { tuningSchema, autoRetryProblem } from './tuning.ts';
import { listenAddressProblem, urlProblem, endpointProblem } from './addresses.ts';
import { trackerReloadProblem, trackerWhitelistProblem } from '../transfer/bt/tracker-whitelist.ts';

/** Numbers may arrive as strings ("72"): the seed's own examples write them so. */
const numberish = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v), schema);

const boolish = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

/** URLs and paths "carry no trailing /" (seed §4.0); a stray one is dropped rather than refused. */
const noTrailingSlash = (schema: z.ZodTypeAny) =>
  z.preprocess((v) => (typeof v === 'string' && v.length > 1 ? v.replace(/\/+$/, '') : v), schema);

/** A string checked by one of the pure parsers of src/schedule, whose message names the problem. */
const checkedBy = (problem: (s: string) => string | undefined) =>
  z.string().superRefine((v, ctx) => {
    const why = problem(v);
    if (why) ctx.addIssue({ code: z.ZodIssueCode.custom, message: why });
  });
/** Transfer windows (SPEC §8): `HH:MM-HH:MM[,HH:MM-HH:MM...]`; an empty value is refused here (config needs one). */
const windowSpec = checkedBy((v) => (v.trim() === '' ? 'must be HH:MM-HH:MM[,HH:MM-HH:MM...], e.g. 18:00-05:00' : windowProblem(v)));
const rateSpec = checkedBy(rateProblem);
const priceSpec = checkedBy(priceProblem);

/**
 * `host:port`: the pattern goes into the generated JSON Schema (editors check it as you
 * type); the refinement checks the host and the port's range, past the pattern.
 */
const listenAddress = (orOff: boolean) => {
  const pattern = orOff ? /^$|^[^\s:]+:\d{1,5}$/ : /^[^\s:]+:\d{1,5}$/;
  return z
    .string()
    .regex(pattern, `must be host:port, e.g. 127.0.0.1:8191${orOff ? ', or "" for none' : ''}`)
    .superRefine((v, ctx) => {
      const why = v === '' || !pattern.test(v) ? undefined : listenAddressProblem(v);
      if (why) ctx.addIssue({ code: z.ZodIssueCode.custom, message: why });
    });
};
const hostPort = listenAddress(false);
const hostPortOrOff = listenAddress(true);
/** A URL, or '' for none. */
const urlOrOff = (schemes: readonly string[], example: string) => checkedBy((v) => (v === '' ? undefined : urlProblem(v, schemes, example)));

export const RATIO_RE = /^\d+:\d+:\d+$/;

export const configSchema = z
  .object({
    servertype: z.enum(['sender', 'receiver', 'cacher']),
    machinetype: z.enum(['local', 'hwecs']).default('local'),
    receiverid: z.string().default(''),
    vip: z.string().default(''),
    basedatapath: noTrailingSlash(z.string().startsWith('/', 'must be an absolute path')).default('/data/dcp'),
    basesubdir: z.string().regex(/^[^/\\\0]*$/, 'must be one plain directory name').refine((s) => s !== '.' && s !== '..', 'must be one plain directory name').default(''),
    avoidrepeat: boolish.default(true),
    senderid: z.string().default(''),
    senderdomain: noTrailingSlash(urlOrOff(['http', 'https'], 'http://dcp.example.org')).default(''),
    'bt-obs-cdn': z
      .string()
      .regex(RATIO_RE, 'must be bt:obs:cdn, e.g. 2:1:1')
      .refine((r) => r.split(':').some((n) => Number(n) > 0), 'at least one method needs a share above 0')
      .default('2:1:1'),
    priorpolicy: z.enum(['fulltime', 'priortime']).optional(),
    prior: z.enum(['fulltime', 'priortime']).optional(),
    tracker: urlOrOff(['http', 'https', 'udp', 'ws', 'wss'], 'http://tracker.example.org:6969/announce').default(''),
    defaultseedtime: numberish(z.number().nonnegative()).default(72),
    obsurl: noTrailingSlash(checkedBy((v) => (v === '' || /^obs:\/\/[^/\s]+(\/\S*)?$/i.test(v) ? undefined : 'must be obs://<bucket>'))).default(''),
    cdnurl: noTrailingSlash(urlOrOff(['http', 'https'], 'http://cdn.example.org')).default(''),
    bttime: windowSpec.default('00:00-23:59'),
    obstime: windowSpec.default('00:00-08:00'),
    cdntime: windowSpec.default('08:00-18:00'),
    ctfilesorder: boolish.default(true),
    obsak: z.string().default(''),
    obssk: z.string().default(''),
    obsendpoint: noTrailingSlash(checkedBy((v) => (v === '' ? undefined : endpointProblem(v)))).default(''),
    datasource: z.enum(['local', 'obs']).default('local'),
    receiverstoreplan: z.enum(['A', 'B']).default('A'),
    uploadingnum: numberish(z.number().int().min(1)).default(5),
    downloadingnum: numberish(z.number().int().min(1)).default(5),
    // bft2's own keys (SPEC §3, fixed names)
    apilisten: hostPort.default('127.0.0.1:8191'),
    btport: numberish(z.number().int().min(0).max(65535)).default(6881),
    httporigin: hostPortOrOff.default(''),
    embeddedtracker: hostPortOrOff.default(''),
    autosend: boolish.default(true),
    obssignature: z.enum(['obs', 'v2', 'v4']).default('obs'),
    obspathstyle: boolish.default(false),
    receiverseed: boolish.default(true),
    btatstart: boolish.default(false),
    btlimit: rateSpec.default(''),
    obslimit: rateSpec.default(''),
    cdnlimit: rateSpec.default(''),
    btuploadlimit: rateSpec.default(''),
    diskreserve: checkedBy(reserveProblem).default('5%'),
    rebalance: z.enum(['off', 'failed', 'idle']).default('idle'),
    metricslisten: hostPortOrOff.default(''),
    btprice: priceSpec.default(''),
    obsprice: priceSpec.default(''),
    cdnprice: priceSpec.default(''),
    currency: z
      .string()
      .regex(/^[^\s\p{Cc}]{1,16}$/u, 'must be a short label without spaces, e.g. CNY, EUR or ¥')
      .default('CNY'),
    autoretry: checkedBy(autoRetryProblem).default('30m'),
    trackerwhitelist: checkedBy(trackerWhitelistProblem).default(''),
    trackerreload: checkedBy(trackerReloadProblem).default(''),
    tuning: tuningSchema,
  })
  // Keys of older installations (ctcs, hashtable, ...) are kept, not refused.
  .passthrough()
  .superRefine((c, ctx) => {
    if (c.trackerreload.trim() !== '' && c.trackerwhitelist === '') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['trackerreload'], message: 'has nothing to reload without trackerwhitelist (the whitelist file it makes the tracker re-read)' });
    }
  })
  .transform((c) => ({ ...c, priorpolicy: c.priorpolicy ?? c.prior ?? 'fulltime' }));

export type Config = Readonly<z.output<typeof configSchema>>;

/** The secrets that must never reach a log line or an API answer. */
export const SECRET_KEYS = ['obsak', 'obssk'] as const;
