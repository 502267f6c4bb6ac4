// Configuration comes from KUBEXIT_* variables only, read in the Go kubexit's order. Every bad
// value becomes one ConfigError naming the variable, the value and the form expected.
import { posix } from 'node:path';
import { DurationSyntaxError, parseDuration } from './duration.js';

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
  ) {
    super(
      value === undefined
        ? `${variable} is not set: expected ${expected}`
        : `${variable}=${JSON.stringify(value)} is invalid: expected ${expected}`,
    );
  }
}

const NAME_FORM = 'a file name: not empty, not "." or "..", no "/" or NUL';
const DEPS_FORM = `a comma-separated list of names, each ${NAME_FORM}`;
const DURATION_FORM = 'a Go duration that is not negative, such as 30s, 1m30s, 500ms or 1.5h';

export type Env = Readonly<Record<string, string | undefined>>;

export function parseConfig(env: Env): Config {
  const partial: { name?: string; graveyard?: string } = {};
  const fail = (variable: string, expected: string): never => {
    throw new ConfigError(variable, env[variable], expected, partial);
  };

  const name = env.KUBEXIT_NAME ?? '';
  if (!isName(name)) fail('KUBEXIT_NAME', NAME_FORM);
  partial.name = name;

  const graveyard = cleanGraveyard(env.KUBEXIT_GRAVEYARD);
  if (graveyard === undefined) fail('KUBEXIT_GRAVEYARD', 'a folder path without NUL');
  partial.graveyard = graveyard;

  const deps = (variable: string): string[] => {
    const list = splitList(env[variable]);
    if (!list.every(isName)) fail(variable, DEPS_FORM);
    return list;
  };
  const birthDeps = deps('KUBEXIT_BIRTH_DEPS');
  const deathDeps = deps('KUBEXIT_DEATH_DEPS');

  const duration = (variable: string): bigint => {
    try {
      const ns = parseDuration(env[variable] || DEFAULT_TIMEOUT);
      if (ns >= 0n) return ns;
    } catch (err) {
      if (!(err instanceof DurationSyntaxError)) throw err;
    }
    return fail(variable, DURATION_FORM);
  };
  const birthTimeout = duration('KUBEXIT_BIRTH_TIMEOUT');
  const gracePeriod = duration('KUBEXIT_GRACE_PERIOD');

  // Only birth dependencies need to know the pod (from the downward API).
  const podName = env.KUBEXIT_POD_NAME ?? '';
  const namespace = env.KUBEXIT_NAMESPACE ?? '';
  if (birthDeps.length > 0) {
    if (podName === '') fail('KUBEXIT_POD_NAME', 'the pod name (downward API metadata.name)');
    if (namespace === '') {
      fail('KUBEXIT_NAMESPACE', 'the pod namespace (downward API metadata.namespace)');
    }
  }

  const verbose = env.KUBEXIT_VERBOSE_LEVEL ?? '';
  // Go's strconv.Atoi: optional sign, decimal digits.
  if (verbose !== '' && !/^[+-]?[0-9]+$/.test(verbose)) {
    fail('KUBEXIT_VERBOSE_LEVEL', 'an integer such as 0 or 1');
  }
  const verboseLevel = verbose === '' ? 0 : Number.parseInt(verbose, 10);

  const instant = env.KUBEXIT_INSTANT_LOGGING ?? '';
  const instantLogging = parseGoBool(instant);
  if (instantLogging === undefined) {
    fail(
      'KUBEXIT_INSTANT_LOGGING',
      'a boolean: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False',
    );
  }

  const serviceAccountDir = env.KUBEXIT_SERVICE_ACCOUNT_DIR || DEFAULT_SERVICE_ACCOUNT_DIR;
  if (serviceAccountDir.includes('\0')) {
    fail('KUBEXIT_SERVICE_ACCOUNT_DIR', 'a folder path without NUL');
  }

  return {
    name,
    graveyard: graveyard as string,
    birthDeps,
    deathDeps,
    birthTimeout,
    gracePeriod,
    podName,
    namespace,
    verboseLevel,
    instantLogging: instantLogging as boolean,
    serviceAccountDir,
  };
}

/** A tombstone name must stay inside the graveyard. */
export function isName(s: string): boolean {
  return s !== '' && s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0');
}

/** Items are trimmed and empty ones dropped, so "a, b," means [a, b]. */
function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function cleanGraveyard(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return DEFAULT_GRAVEYARD;
  if (value.includes('\0')) return undefined;
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
  };
}
