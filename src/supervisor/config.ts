// Configuration comes from KUBEXIT_* variables only, read in the Go kubexit's order. Every bad
// value becomes one ConfigError naming the variable, the value and the form expected.
import { posix } from 'node:path';
import { DurationSyntaxError, parseDuration } from './duration.js';
import { isTempName } from './graveyard.js';
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

/** Whether the birth wait also reads the pod's status from the Kubernetes API. */
export function usesApi(c: Config): boolean {
  return c.birthDeps.length > 0 && c.podName !== '' && c.namespace !== '';
}

export const DEFAULT_GRAVEYARD = '/graveyard';
export const DEFAULT_TIMEOUT = '30s';
export const DEFAULT_SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

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
  const deathDeps = deps('KUBEXIT_DEATH_DEPS', DEPS_FORM, nameProblem);
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
  const clean = posix.normalize(value);
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
    birth_conditions: c.birthDeps.length ? c.birthConditions.map(birthDepText) : null,
    birth_timeout_action: c.birthTimeoutAction,
    ready_probe: c.readyProbe ? probeText(c.readyProbe) : null,
    ready_probe_period: c.readyProbePeriod,
    ready_probe_timeout: c.readyProbeTimeout,
    ready_probe_initial_delay: c.readyProbeInitialDelay,
  };
}
