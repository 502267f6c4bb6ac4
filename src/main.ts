// kubexit <command> [args…]: the entry point. Catches signals first, reads the configuration,
// hands over to the supervisor and exits with the code the outcome table gives.
import { waitForBirthDeps } from './supervisor/birth.js';
import {
  COMMAND_FORM,
  commandProblem,
  ConfigError,
  configFields,
  parseConfig,
  type Config,
} from './supervisor/config.js';
import { Graveyard, OwnTombstone } from './supervisor/graveyard.js';
import { Log, stderr } from './supervisor/log.js';
import { exitCodeOf, exitCodeUnder, type Outcome } from './supervisor/outcome.js';
import { SignalTrap } from './supervisor/signals.js';
import { fieldsOf, supervise } from './supervisor/supervisor.js';

// Before anything else: from here on no signal is fatal to kubexit or lost.
const signals = new SignalTrap();
stderr.onBroken = () => signals.ownSigpipe();

declare const KUBEXIT_VERSION: string | undefined;
const version = typeof KUBEXIT_VERSION === 'string' ? KUBEXIT_VERSION : 'dev';

const HELP = `kubexit ${version}: supervise one command in a Kubernetes pod's container.

Usage: kubexit <command> [args…]     (also: kubexit --help, kubexit --version)
       kubexit install <dir>        copy this executable (and what it needs) to <dir>/kubexit
       kubexit inject [--rbac] [--image IMAGE] [--image-volume] FILE|DIR|-
                                    wire kubexit into Kubernetes YAML (kubexit inject --help)
       kubexit lint [--json] FILE|DIR|-   check the kubexit wiring of Kubernetes YAML
       kubexit graph [--format mermaid|dot] FILE|DIR|-   the pods' dependency graphs
       kubexit webhook --cert FILE --key FILE [--port 8443] [--image IMAGE]
                                    the admission webhook that wires kubexit into pods
       (the four tools run only where KUBEXIT_NAME is unset)
       (run from a file named cp or sh, as the image's /bin/cp and /bin/sh: the Go kubexit's
       init command cp /app/bin/kubexit <dir>/kubexit, or /bin/kubexit, does that install)

Configured by environment variables only:
  KUBEXIT_NAME             this container's tombstone name (required): a file name of at most
                           255 bytes, no "/" or control characters
  KUBEXIT_GRAVEYARD        folder shared by the pod's containers (default /graveyard)
  KUBEXIT_DEATH_DEPS       comma-separated tombstone names: when one dies, TERM the command;
                           name:failed or name:succeeded counts only that kind of death
  KUBEXIT_GRACE_PERIOD     wait between TERM and KILL, Go duration (default 30s)
  KUBEXIT_DEATH_SIGNAL     the signal a death sends instead of TERM, e.g. SIGQUIT (default SIGTERM)
  KUBEXIT_DEATH_HTTP       URL to POST to on a death instead of signalling, e.g.
                           http://127.0.0.1:15000/quitquitquit; the signal if the call fails
  KUBEXIT_DEATH_HTTP_TIMEOUT  how long that call may take, Go duration (default 2s)
  KUBEXIT_DEATH_DELAY      wait after a death before acting, Go duration (default 0)
  KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS  true: exit 0 when a death dependency stopped the command
  KUBEXIT_EXIT_CODE_MAP    from:to exit codes, applied last, e.g. 143:0,137:0
  KUBEXIT_SHUTDOWN_AFTER_DEPS  true: hold a SIGTERM until a death dependency has died
  KUBEXIT_SHUTDOWN_HOLD    the longest hold, Go duration (default: KUBEXIT_GRACE_PERIOD)
  KUBEXIT_KILL_GROUP       true: run the command in its own process group; signals, the KILL
                           and the end of the command reach the whole group (default false)
  KUBEXIT_BIRTH_DEPS       comma-separated container names (= their KUBEXIT_NAME) to wait
                           for before starting, each name or name:condition, condition one
                           of started, ready (default), completed, succeeded
  KUBEXIT_BIRTH_TIMEOUT    how long to wait for them, Go duration (default 30s)
  KUBEXIT_BIRTH_TIMEOUT_ACTION  fail (default) or start: what to do when it passes
  KUBEXIT_POD_NAME         pod name (downward API): with KUBEXIT_NAMESPACE, birth deps also
                           read the pod status from the Kubernetes API (else tombstones only)
  KUBEXIT_NAMESPACE        pod namespace (downward API)
  KUBEXIT_READY_PROBE      when our command is ready: tcp://host:port, http(s)://host:port/path
                           (2xx or 3xx), or exec:<command> [args…] (exit 0); without it, ready
                           once it runs. Written as Ready into our tombstone
  KUBEXIT_READY_PROBE_PERIOD  longest gap between attempts, Go duration (default 1s; the first
                           attempts come sooner: 10 ms, then doubling, at most 100 ms for 10 s)
  KUBEXIT_READY_PROBE_TIMEOUT  limit of each attempt, Go duration (default 1s)
  KUBEXIT_READY_PROBE_INITIAL_DELAY  before the first attempt, Go duration (default 0)
  KUBEXIT_SERVICE_ACCOUNT_DIR  token, ca.crt and namespace for the API
                           (default /var/run/secrets/kubernetes.io/serviceaccount)
  KUBEXIT_VERBOSE_LEVEL    > 0 prints every event trace at the end (default 0)
  KUBEXIT_INSTANT_LOGGING  true prints each trace event as it happens (default false)

The command is run directly, never through a shell: a script needs a #! line.

Exit code: the command's; 128+N if signal N ended it; 143 if a death dependency died before it
started; 127 not found; 126 not executable (no permission, a folder, or a file that is neither
a #! script nor a binary this system runs); 2 bad configuration or an empty command; 1 kubexit
failed. Then 0 if KUBEXIT_IGNORE_CODE_ON_DEATH_DEPS applies, then KUBEXIT_EXIT_CODE_MAP.
`;

/**
 * The name of the file this executable runs from: the image also has it at /bin/cp and /bin/sh
 * (hard links), for the Go kubexit's init commands. Not argv[0], which the caller chooses; and
 * not under Node, where the file is node's.
 */
function fileName(): string | undefined {
  if (process.versions.bun === undefined) return undefined;
  const path = process.execPath; // /proc/self/exe: a hard link's own path
  return path.slice(path.lastIndexOf('/') + 1);
}

async function main(argv: string[]): Promise<number> {
  const name = fileName();
  if (name === 'cp' || name === 'sh') return answerGoEraInit(name, argv);
  // The fork's image had no entrypoint, so its init container could give the cp as `args:`;
  // ours then runs `kubexit cp …`. Without KUBEXIT_NAME nothing could be supervised anyway.
  if (process.env.KUBEXIT_NAME === undefined && (argv[0] === 'cp' || argv[0] === 'sh')) {
    const { goEraInit } = await import('./tooling/go-era-init.js');
    const what = goEraInit(argv[0], argv.slice(1));
    if (what.kind === 'install' && what.atMountPath) return installInto(what.dir);
  }
  if (argv.length === 1 && argv[0] === '--version') return print(`kubexit ${version}\n`);
  if (argv.length === 1 && argv[0] === '--help') return print(HELP);
  if (argv.length === 2 && argv[0] === 'install') return installInto(argv[1] as string);
  // In a wrapped container KUBEXIT_NAME is set: a command named like a tool is still supervised.
  if (isTool(argv[0]) && process.env.KUBEXIT_NAME === undefined) {
    signals.release();
    fullJit();
    return (await import('./tooling/cli.js')).runTool(argv);
  }

  const log = new Log();
  let config: Config;
  try {
    config = parseConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return refuse(log, 'invalid configuration', err, err.partial, {
      variable: err.variable,
      value: err.value,
      expected: err.expected,
      problem: err.problem,
    });
  }
  log.setInstant(config.instantLogging);
  log.info('kubexit initialized', { config: configFields(config) });
  if (argv.length === 0) {
    return refuse(log, 'no arguments found', new Error('no command to run'), config, {
      expected: COMMAND_FORM,
    });
  }
  const wrong = commandProblem(argv);
  if (wrong !== undefined) {
    const error = new Error(`${wrong}: expected ${COMMAND_FORM}`);
    return refuse(log, 'invalid command', error, config, {
      value: argv[0],
      expected: COMMAND_FORM,
      problem: wrong,
    });
  }

  const outcome = await supervise(config, argv, {
    log,
    signals,
    graveyard: new Graveyard(config.graveyard),
    waitForBirth: waitForBirthDeps,
  });
  report(log, config, outcome);
  return exitCodeUnder(outcome, config.ending);
}

/** Bad usage: one error line, and still a tombstone so that dependents are not left waiting. */
function refuse(
  log: Log,
  message: string,
  error: Error,
  where: { name?: string; graveyard?: string },
  fields: Record<string, unknown> = {},
): number {
  const code = exitCodeOf({ kind: 'usage', error });
  if (where.name !== undefined && where.graveyard !== undefined) {
    try {
      new OwnTombstone(new Graveyard(where.graveyard), where.name).died(code);
    } catch {
      // the configuration error is what the user must see first
    }
  }
  log.errorLine(message, { ...fields, error: error.message, exit_code: code });
  return code;
}

/** The final line: failures always, a child that never ran always, a normal run when verbose. */
function report(log: Log, config: Config, outcome: Outcome): void {
  const exit_code = exitCodeUnder(outcome, config.ending);
  switch (outcome.kind) {
    case 'failed':
      // A tombstone that cannot be written: its path, errno and a hint, as fields of their own.
      return log.error(outcome.error, { ...fieldsOf(outcome.error.cause), exit_code });
    case 'usage':
    case 'cannot-run':
      return log.error(outcome.error, { exit_code });
    case 'not-started': {
      const { cause } = outcome;
      const reason =
        cause.kind === 'death' ? `death dependency ${cause.name} died` : `received ${cause.signal}`;
      return log.summary('child not started', { exit_code, reason });
    }
    case 'exited':
    case 'killed':
      if (config.verboseLevel > 0) {
        const signal = outcome.kind === 'killed' ? outcome.signal : undefined;
        log.summary('supervising proceed successfully', { exit_code, signal });
      }
  }
}

/** The manifest tools' names, kept here so that a supervised run never loads their module. */
function isTool(name: string | undefined): boolean {
  return name === 'inject' || name === 'lint' || name === 'graph' || name === 'webhook';
}

/**
 * The executable starts with JavaScriptCore's JIT held back (scripts/package.mjs): right for a
 * supervisor that mostly waits, not for a tool that parses thousands of documents or serves
 * admission reviews. Those get the normal policy back.
 */
function fullJit(): void {
  const bun = (globalThis as { Bun?: { unsafe?: { setJITPolicy?: (scale: number) => void } } }).Bun;
  bun?.unsafe?.setJITPolicy?.(1);
}

/** `kubexit install <dir>`: the executable (and its loader and libraries) into a volume. */
async function installInto(dir: string): Promise<number> {
  const { install } = await import('./tooling/install.js');
  try {
    const { executable, libraries } = install(dir);
    return print(`installed ${executable} with ${libraries.join(', ')}\n`);
  } catch (err) {
    new Log().errorLine('install failed', { error: (err as Error).message, exit_code: 1 });
    return 1;
  }
}

/** Run as /bin/cp or /bin/sh: the Go kubexit's init command installs, anything else is refused. */
async function answerGoEraInit(name: 'cp' | 'sh', argv: string[]): Promise<number> {
  const { goEraInit, GO_ERA_FORM, MOUNT_PATH } = await import('./tooling/go-era-init.js');
  const what = goEraInit(name, argv);
  if (what.kind === 'install') {
    if (!what.atMountPath) {
      new Log().warning('installed outside /kubexit', {
        dir: what.dir,
        hint: `the copy finds its loader and libraries at ${MOUNT_PATH}: mount this volume there in the app containers`,
      });
    }
    return installInto(what.dir);
  }
  const code = exitCodeOf({ kind: 'usage', error: new Error(what.problem) });
  new Log().errorLine(
    `this is kubexit's image: it has no shell, and its ${name} only installs kubexit`,
    {
      command: [process.argv0, ...argv],
      problem: what.problem,
      expected: GO_ERA_FORM,
      exit_code: code,
    },
  );
  return code;
}

function print(text: string): number {
  process.stdout.write(text);
  return 0;
}

/** The exit code and the tombstone are settled; the last log lines get a short chance. */
function exit(code: number): never {
  stderr.finish();
  process.exit(code);
}

main(process.argv.slice(2)).then(exit, (err: unknown) => {
  new Log().error(err instanceof Error ? err : new Error(String(err)), { exit_code: 1 });
  exit(1);
});
