// Configuration comes from KUBEXIT_* variables only, read in the Go kubexit's order. Every bad
// value becomes one ConfigError naming the variable, the value and the form expected.
import { DurationSyntaxError, parseDuration } from './duration.js';
import { isTempName } from './graveyard.js';
import { normalizePath } from './paths.js';
import { CAUGHT } from './signals.js';
import { parseProbe, PROBE_FORM, probeText, type ProbeSpec } from './probe-spec.js';

/** What a birth dependency must have done before our child starts. */
export type Condition = 'started' | 'ready' | 'completed' | 'succeeded';
export const CONDITIONS: readonly Condition[] = ['started', 'ready', 'completed', 'succeeded'];

export interface BirthDep {
  /** The container's name, and its tombstone's. */
  name: string;
  condition: Condition;
}

export interface Config {
  name: string;
  graveyard: string;
  birthDeps: string[];
  deathDeps: string[];
  birthTimeout: bigint;
  gracePeriod: bigint;
  podName: string;
  namespace: string;
  verboseLevel: number;
  instantLogging: boolean;
  /** Where the pod's service-account token, CA and namespace are mounted. */
  serviceAccountDir: string;
  /** How the child is ended and what kubexit exits with (issue 10). */
  ending: EndingConfig;
  /** birthDeps with their conditions, in the same order. */
  birthConditions: BirthDep[];
  /** What to do when the birth timeout passes: fail (exit 1) or start the child anyway. */
  birthTimeoutAction: 'fail' | 'start';
  /** Our own readiness check, run once the child runs; none: ready when it runs. */
  readyProbe: ProbeSpec | undefined;
  readyProbePeriod: bigint;
  readyProbeTimeout: bigint;
  readyProbeInitialDelay: bigint;
}

/** A condition on a death dependency's end: which of its deaths count. */
export type DeathCondition = 'completed' | 'failed' | 'succeeded';
export const DEATH_CONDITIONS: readonly DeathCondition[] = ['completed', 'failed', 'succeeded'];

export interface EndingConfig {
  /** Exit 0 when a death dependency's death stopped the child (or kept it from starting). */
  ignoreCodeOnDeathDeps: boolean;
  /** Applied last to the exit code: from → to. */
  exitCodeMap: ReadonlyMap<number, number>;
  /** Death dependencies named with conditions; the others count on any death. */
  deathConditions: ReadonlyMap<string, readonly DeathCondition[]>;
  deathSignal: NodeJS.Signals;
  /** POSTed to instead of signalling; the signal is the fallback. */
  deathHttp: string | undefined;
  deathHttpTimeout: bigint;
  /** Between a death and the death action. */
  deathDelay: bigint;
  /** Hold a SIGTERM received while the child runs until a death dependency has died. */
  shutdownAfterDeps: boolean;
  /** The longest hold; defaults to the grace period. */
  shutdownHold: bigint;
  /** The child leads its own process group; signals and the KILL reach all of it. */
  killGroup: boolean;
}

/** Whether the birth wait also reads the pod's status from the Kubernetes API. */
export function usesApi(c: Config): boolean {
  return c.birthDeps.length > 0 && c.podName !== '' && c.namespace !== '';
}

export const DEFAULT_GRAVEYARD = '/graveyard';
export const DEFAULT_TIMEOUT = '30s';
export const DEFAULT_SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export const DEFAULT_DEATH_HTTP_TIMEOUT = '2s';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly value: string | undefined,
    readonly expected: string,
    /** What was read before the bad variable: enough, perhaps, to write our tombstone. */
    readonly partial: { name?: string; graveyard?: string },
    /** What exactly is wrong, when the expected form alone doesn't make it obvious. */
    readonly problem?: string,
  ) {
    super(
      value === undefined
        ? `${variable} is not set: expected ${expected}`
        : `${variable}=${JSON.stringify(value)} is invalid${problem ? ` (${problem})` : ''}: expected ${expected}`,
    );
  }
}

// The forms, as the error lines state them. Exported with their checks, so that anything else
// judging these values (a linter, a webhook) says and checks the same.
export const NAME_FORM =
  'a file name of 1 to 255 bytes: not "." or "..", no "/", no control characters, not .kubexit-*.tmp';
export const DEPS_FORM = `a comma-separated list of tombstone names, each ${NAME_FORM}`;
export const PATH_FORM = 'a folder path without control characters';
export const LABEL_FORM =
  'a DNS-1123 label: 1 to 63 of a-z, 0-9 and "-", starting and ending with a letter or digit';
export const SUBDOMAIN_FORM =
  'a DNS-1123 subdomain: at most 253 characters, dot-separated DNS-1123 labels (a-z, 0-9, "-")';
export const BIRTH_DEPS_FORM =
  "a comma-separated list of this pod's container names (which are also their tombstone names), " +
  `each ${LABEL_FORM}, optionally followed by :started, :ready (the default), :completed or :succeeded`;
export const TIMEOUT_ACTION_FORM = 'fail or start';
export { PROBE_FORM };
export const POSITIVE_DURATION_FORM =
  'a Go duration greater than 0 and at most 2562047h47m16.854775807s, such as 1s, 500ms or 10s';
export const POD_NAME_FORM = `the pod name (downward API metadata.name), ${SUBDOMAIN_FORM}`;
export const NAMESPACE_FORM = `the pod namespace (downward API metadata.namespace), ${LABEL_FORM}`;
export const DURATION_FORM =
  'a Go duration that is not negative and at most 2562047h47m16.854775807s, such as 30s, 1m30s, 500ms or 1.5h';
export const INT_FORM =
  'an integer from -9223372036854775808 to 9223372036854775807, such as 0 or 1';
export const BOOL_FORM = 'a boolean: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False';
export const DEATH_DEPS_FORM = `a comma-separated list of tombstone names, each optionally followed by :completed, :failed or :succeeded (such as main:failed); each name ${NAME_FORM}`;
export const EXIT_CODE_MAP_FORM =
  'a comma-separated list of from:to exit codes, each from 0 to 255, such as 143:0,137:0';
export const SIGNAL_FORM =
  'a signal name such as SIGTERM, SIGQUIT, SIGINT, SIGUSR1 or SIGKILL (the SIG prefix is optional)';
export const URL_FORM =
  'an http:// or https:// URL without control characters, such as http://127.0.0.1:15000/quitquitquit';

/** Checks return what is wrong with a value, or undefined when it is fine. */
export type Check = (value: string) => string | undefined;

export type Env = Readonly<Record<string, string | undefined>>;

export function parseConfig(env: Env): Config {
  const partial: { name?: string; graveyard?: string } = {};
  const fail = (variable: string, expected: string, problem?: string): never => {
    throw new ConfigError(variable, env[variable], expected, partial, problem);
  };
  const check = (variable: string, value: string, form: string, problem: Check): void => {
    const wrong = problem(value);
    if (wrong !== undefined) fail(variable, form, wrong);
  };

  if (env.KUBEXIT_NAME === undefined) fail('KUBEXIT_NAME', NAME_FORM);
  const name = env.KUBEXIT_NAME as string;
  check('KUBEXIT_NAME', name, NAME_FORM, nameProblem);
  partial.name = name;

  const graveyardValue = env.KUBEXIT_GRAVEYARD || DEFAULT_GRAVEYARD;
  check('KUBEXIT_GRAVEYARD', graveyardValue, PATH_FORM, pathProblem);
  const graveyard = cleanGraveyard(graveyardValue);
  partial.graveyard = graveyard;

  const deps = (variable: string, form: string, problem: Check): string[] => {
    const list = splitList(env[variable]);
    check(variable, env[variable] ?? '', form, listProblem(list, problem));
    return list;
  };
  // Birth deps name containers (the API's names), and the tombstones of the kubexits in them:
  // one name for both. Death deps name tombstones (files).
  const birthConditions = deps('KUBEXIT_BIRTH_DEPS', BIRTH_DEPS_FORM, birthDepProblem).map(
    toBirthDep,
  );
  const birthDeps = birthConditions.map((d) => d.name);
  const deathItems = deps('KUBEXIT_DEATH_DEPS', DEATH_DEPS_FORM, deathDepProblem);
  const deathDeps = deathItems.map((item) => splitDeathDep(item)[0]);
  // Waiting for our own readiness, which our child provides, can only end in the timeout (B23).
  // KUBEXIT_NAME is normally the container's name: the same name here means this container.
  if (birthDeps.includes(name)) {
    fail(
      'KUBEXIT_BIRTH_DEPS',
      BIRTH_DEPS_FORM,
      `item "${name}" is this container's own KUBEXIT_NAME: a container cannot wait for its own readiness`,
    );
  }

  const duration = (variable: string, byDefault = DEFAULT_TIMEOUT, positive = false): bigint => {
    const form = positive ? POSITIVE_DURATION_FORM : DURATION_FORM;
    try {
      const ns = parseDuration(env[variable] || byDefault);
      if (ns > 0n || (ns === 0n && !positive)) return ns;
      return fail(variable, form, ns === 0n ? 'zero' : 'negative');
    } catch (err) {
      if (!(err instanceof DurationSyntaxError)) throw err;
      return fail(variable, form, err.message);
    }
  };
  const birthTimeout = duration('KUBEXIT_BIRTH_TIMEOUT');
  const gracePeriod = duration('KUBEXIT_GRACE_PERIOD');

  // Only birth dependencies use the pod (from the downward API); without them these are unused,
  // and left unchecked as Go's kubexit does. They become API URL path segments. Without either,
  // tombstones alone tell the dependencies' state; with one, the other is missing.
  const podName = env.KUBEXIT_POD_NAME ?? '';
  const namespace = env.KUBEXIT_NAMESPACE ?? '';
  if (birthDeps.length > 0 && (podName !== '' || namespace !== '')) {
    if (podName === '') fail('KUBEXIT_POD_NAME', POD_NAME_FORM);
    check('KUBEXIT_POD_NAME', podName, POD_NAME_FORM, dnsSubdomainProblem);
    if (namespace === '') fail('KUBEXIT_NAMESPACE', NAMESPACE_FORM);
    check('KUBEXIT_NAMESPACE', namespace, NAMESPACE_FORM, dnsLabelProblem);
  }

  const verbose = env.KUBEXIT_VERBOSE_LEVEL ?? '';
  const level = verbose === '' ? 0n : parseGoInt(verbose);
  if (level === undefined) {
    fail(
      'KUBEXIT_VERBOSE_LEVEL',
      INT_FORM,
      /^[+-]?\d+$/.test(verbose) ? 'out of range' : undefined,
    );
  }
  // Only its sign matters: a Number is enough, even when it rounds.
  const verboseLevel = Number(level);

  const instant = env.KUBEXIT_INSTANT_LOGGING ?? '';
  const instantLogging = parseGoBool(instant);
  if (instantLogging === undefined) fail('KUBEXIT_INSTANT_LOGGING', BOOL_FORM);

  const serviceAccountDir = env.KUBEXIT_SERVICE_ACCOUNT_DIR || DEFAULT_SERVICE_ACCOUNT_DIR;
  check('KUBEXIT_SERVICE_ACCOUNT_DIR', serviceAccountDir, PATH_FORM, pathProblem);

  // How it ends (issue 10): every variable optional, today's behaviour when unset.
  const bool = (variable: string): boolean => {
    const value = parseGoBool(env[variable] ?? '');
    return value ?? fail(variable, BOOL_FORM);
  };
  const ignoreCodeOnDeathDeps = bool('KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS');
  const mapItems = splitList(env.KUBEXIT_EXIT_CODE_MAP);
  check('KUBEXIT_EXIT_CODE_MAP', env.KUBEXIT_EXIT_CODE_MAP ?? '', EXIT_CODE_MAP_FORM, () =>
    exitCodeMapProblem(mapItems),
  );
  const exitCodeMap = new Map(
    mapItems.map((item) => item.split(':').map(Number) as [number, number]),
  );
  const deathConditions = new Map<string, DeathCondition[]>();
  for (const item of deathItems) {
    const [dep, condition] = splitDeathDep(item);
    if (condition !== undefined)
      deathConditions.set(dep, [...(deathConditions.get(dep) ?? []), condition]);
  }
  // A name also listed without a condition counts on any death.
  for (const item of deathItems) {
    if (splitDeathDep(item)[1] === undefined) deathConditions.delete(item);
  }
  const signalValue = env.KUBEXIT_DEATH_SIGNAL || 'SIGTERM';
  const deathSignal = parseSignal(signalValue) ?? fail('KUBEXIT_DEATH_SIGNAL', SIGNAL_FORM);
  const deathHttp = env.KUBEXIT_DEATH_HTTP || undefined;
  if (deathHttp !== undefined) check('KUBEXIT_DEATH_HTTP', deathHttp, URL_FORM, urlProblem);
  const deathHttpTimeout = duration('KUBEXIT_DEATH_HTTP_TIMEOUT', DEFAULT_DEATH_HTTP_TIMEOUT);
  const deathDelay = duration('KUBEXIT_DEATH_DELAY', '0');
  const shutdownAfterDeps = bool('KUBEXIT_SHUTDOWN_AFTER_DEPS');
  // The dependency gets about as long to end as we give our child after it.
  const shutdownHold = env.KUBEXIT_SHUTDOWN_HOLD ? duration('KUBEXIT_SHUTDOWN_HOLD') : gracePeriod;
  const killGroup = bool('KUBEXIT_KILL_GROUP');

  const action = env.KUBEXIT_BIRTH_TIMEOUT_ACTION || 'fail';
  if (action !== 'fail' && action !== 'start')
    fail('KUBEXIT_BIRTH_TIMEOUT_ACTION', TIMEOUT_ACTION_FORM);

  const probeValue = env.KUBEXIT_READY_PROBE ?? '';
  let readyProbe: ProbeSpec | undefined;
  if (probeValue !== '') {
    const text = textProblem(probeValue);
    if (text !== undefined) fail('KUBEXIT_READY_PROBE', PROBE_FORM, text);
    const parsed = parseProbe(probeValue);
    if (typeof parsed === 'string') fail('KUBEXIT_READY_PROBE', PROBE_FORM, parsed);
    readyProbe = parsed as ProbeSpec;
  }
  const readyProbePeriod = duration('KUBEXIT_READY_PROBE_PERIOD', '1s', true);
  const readyProbeTimeout = duration('KUBEXIT_READY_PROBE_TIMEOUT', '1s', true);
  const readyProbeInitialDelay = duration('KUBEXIT_READY_PROBE_INITIAL_DELAY', '0');

  return {
    name,
    graveyard,
    birthDeps,
    deathDeps,
    birthTimeout,
    gracePeriod,
    podName,
    namespace,
    verboseLevel,
    instantLogging: instantLogging as boolean,
    serviceAccountDir,
    ending: {
      ignoreCodeOnDeathDeps,
      exitCodeMap,
      deathConditions,
      deathSignal,
      deathHttp,
      deathHttpTimeout,
      deathDelay,
      shutdownAfterDeps,
      shutdownHold,
      killGroup,
    },
    birthConditions,
    birthTimeoutAction: action as 'fail' | 'start',
    readyProbe,
    readyProbePeriod,
    readyProbeTimeout,
    readyProbeInitialDelay,
  };
}

/** A birth dependency: a container name, and perhaps `:condition`. */
export function birthDepProblem(s: string): string | undefined {
  const [name, condition, more] = s.split(':');
  const wrong = dnsLabelProblem(name as string);
  if (wrong !== undefined) return wrong;
  if (more !== undefined) return 'more than one ":"';
  if (condition !== undefined && !(CONDITIONS as readonly string[]).includes(condition))
    return `unknown condition ${JSON.stringify(condition)}`;
  return undefined;
}

function toBirthDep(item: string): BirthDep {
  const [name, condition] = item.split(':') as [string, Condition | undefined];
  return { name, condition: condition ?? 'ready' };
}

/** As logs and tombstones show a birth dependency: the condition only when not `ready`. */
export function birthDepText(d: BirthDep): string {
  return d.condition === 'ready' ? d.name : `${d.name}:${d.condition}`;
}

/**
 * `name` or `name:condition`. Only a known condition is split off, at the last ":": a
 * tombstone name with ":" in it needs a condition after it (`a:b:completed`).
 */
export function splitDeathDep(item: string): [string, DeathCondition | undefined] {
  const at = item.lastIndexOf(':');
  const condition = item.slice(at + 1) as DeathCondition;
  if (at < 0 || !DEATH_CONDITIONS.includes(condition)) return [item, undefined];
  return [item.slice(0, at), condition];
}

/** A death dependency item: a tombstone name, and an optional known condition. */
export function deathDepProblem(item: string): string | undefined {
  const [name, condition] = splitDeathDep(item);
  if (condition === undefined && item.includes(':')) {
    const suffix = item.slice(item.lastIndexOf(':') + 1);
    return `unknown condition ${JSON.stringify(suffix)}: expected completed, failed or succeeded (a name with ":" in it needs a condition after it, such as ${JSON.stringify(`${item}:completed`)})`;
  }
  return nameProblem(name);
}

/** from:to pairs of exit codes 0-255, each from at most once. */
export function exitCodeMapProblem(items: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const item of items) {
    const m = /^(\d{1,3}):(\d{1,3})$/.exec(item);
    if (!m) return `item ${JSON.stringify(item)}: not from:to`;
    const [from, to] = [Number(m[1]), Number(m[2])];
    if (from > 255 || to > 255) return `item ${JSON.stringify(item)}: exit codes go from 0 to 255`;
    if (seen.has(String(from))) return `item ${JSON.stringify(item)}: ${from} is mapped twice`;
    seen.add(String(from));
  }
  return undefined;
}

/** SIGQUIT, QUIT or quit: a signal kubexit can send and its child can be ended by. */
export function parseSignal(value: string): NodeJS.Signals | undefined {
  const upper = value.toUpperCase();
  const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals;
  return name === 'SIGKILL' || CAUGHT.includes(name) ? name : undefined;
}

export function urlProblem(s: string): string | undefined {
  // Checked first: the URL parser silently drops tabs and newlines.
  const text = textProblem(s);
  if (text !== undefined) return text;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `scheme ${url.protocol} is not http: or https:`;
  return undefined;
}

/**
 * What makes text unusable as a name or path: control characters (C0 with NUL, tab and
 * newline; DEL; C1), and what is not text at all: a lone UTF-16 surrogate, or U+FFFD, which is
 * what the runtime makes of bytes that were not UTF-8 (the file would get another name).
 */
export function textProblem(s: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u001f\u007f-\u009f\ufffd]|\p{Cs}/u.exec(s)?.[0];
  if (bad === undefined) return undefined;
  const code = `U+${(bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  if (bad === '\ufffd') return `${code}: not valid UTF-8`;
  return /\p{Cs}/u.test(bad) ? `${code}: a lone surrogate` : `control character ${code}`;
}

/** NAME_MAX: the longest file name Linux file systems take, in bytes. */
export const NAME_MAX = 255;

/** A tombstone name: one file right inside the graveyard, that is not one of ours. */
export function nameProblem(s: string): string | undefined {
  if (s === '') return 'empty';
  if (s === '.' || s === '..' || s.includes('/')) return 'not a file name';
  const text = textProblem(s);
  if (text !== undefined) return text;
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes > NAME_MAX) return `${bytes} bytes long`;
  if (isTempName(s)) return "the form of kubexit's own temporary files";
  return undefined;
}

export function pathProblem(s: string): string | undefined {
  return textProblem(s);
}

const LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes' DNS-1123 label: namespaces and container names. */
export function dnsLabelProblem(s: string): string | undefined {
  if (s.length > 63) return `${s.length} characters long`;
  return LABEL.test(s) ? undefined : 'not a DNS-1123 label';
}

/** Kubernetes' DNS-1123 subdomain: pod names. */
export function dnsSubdomainProblem(s: string): string | undefined {
  if (s.length > 253) return `${s.length} characters long`;
  return s.split('.').every((label) => LABEL.test(label)) ? undefined : 'not a DNS-1123 subdomain';
}

/** Applies `problem` to each item, and names the first bad one. */
export function listProblem(list: readonly string[], problem: Check): Check {
  return () => {
    for (const item of list) {
      const wrong = problem(item);
      if (wrong !== undefined) return `item ${JSON.stringify(item)}: ${wrong}`;
    }
    return undefined;
  };
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Go's strconv.Atoi on 64-bit: an optional sign, decimal digits, within int64. */
export function parseGoInt(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const digits = s.replace(/^[+-]?0*/, '');
  if (digits.length > 19) return undefined; // out of range; no huge BigInt
  const n = BigInt(s.startsWith('-') ? `-${digits || '0'}` : digits || '0');
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

export const COMMAND_FORM = 'a program name (looked up on PATH) or a path to one';

/** The command line: the program kubexit runs. None at all is told apart ("no arguments"). */
export function commandProblem(argv: readonly string[]): string | undefined {
  // Go would look "" up on PATH and fail; it is a usage error, not a missing program.
  return argv[0] === '' ? 'the command is empty' : undefined;
}

/** Items are trimmed and empty ones dropped, so "a, b," means [a, b]. */
function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function cleanGraveyard(value: string): string {
  const clean = normalizePath(value);
  // Unlike Go's kubexit, "/" stays "/" rather than becoming ".".
  return clean.length > 1 ? clean.replace(/\/+$/, '') : clean;
}

/** Go's strconv.ParseBool; unset means false. */
function parseGoBool(s: string): boolean | undefined {
  if (s === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/** The config as the fork logs it in `kubexit initialized`: durations in nanoseconds. */
export function configFields(c: Config): Record<string, unknown> {
  return {
    name: c.name,
    graveyard: c.graveyard,
    birth_deps: c.birthDeps.length ? c.birthDeps : null,
    death_deps: c.deathDeps.length ? c.deathDeps : null,
    birth_timeout: c.birthTimeout,
    grace_period: c.gracePeriod,
    pod_name: c.podName,
    namespace: c.namespace,
    verbose_level: c.verboseLevel,
    instant_logging: c.instantLogging,
    service_account_dir: c.serviceAccountDir,
    ...endingFields(c.ending, c.gracePeriod),
    ...readinessFields(c),
  };
}

/** The same rule for birth conditions and the ready probe: only what is set. */
function readinessFields(c: Config): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (c.birthConditions.some((d) => d.condition !== 'ready'))
    f.birth_conditions = c.birthConditions.map(birthDepText);
  if (c.birthTimeoutAction !== 'fail') f.birth_timeout_action = c.birthTimeoutAction;
  if (c.readyProbe) {
    f.ready_probe = probeText(c.readyProbe);
    f.ready_probe_period = c.readyProbePeriod;
    f.ready_probe_timeout = c.readyProbeTimeout;
    f.ready_probe_initial_delay = c.readyProbeInitialDelay;
  }
  return f;
}

/** Only what differs from today's behaviour: unset, the line stays the fork's. */
function endingFields(e: EndingConfig, gracePeriod: bigint): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (e.ignoreCodeOnDeathDeps) f.ignore_code_on_death_deps = true;
  if (e.exitCodeMap.size) f.exit_code_map = Object.fromEntries(e.exitCodeMap);
  if (e.deathConditions.size) f.death_conditions = Object.fromEntries(e.deathConditions);
  if (e.deathSignal !== 'SIGTERM') f.death_signal = e.deathSignal;
  if (e.deathHttp !== undefined) {
    f.death_http = withoutPassword(e.deathHttp);
    f.death_http_timeout = e.deathHttpTimeout;
  }
  if (e.deathDelay !== 0n) f.death_delay = e.deathDelay;
  if (e.shutdownAfterDeps) f.shutdown_after_deps = true;
  if (e.shutdownAfterDeps || e.shutdownHold !== gracePeriod) f.shutdown_hold = e.shutdownHold;
  if (e.killGroup) f.kill_group = true;
  return f;
}

/** A URL's password stays out of the logs. */
function withoutPassword(url: string): string {
  const u = new URL(url);
  if (u.password === '') return url;
  u.password = '***';
  return u.href;
}
