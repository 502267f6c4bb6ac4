// `npm test`'s first step (scripts/test.sh runs it): sets up what each part of the suite needs
// (requires.ts), one line per step with its time, the details in log files. Parts named in
// KUBEXIT_TEST_SKIP are left out; a part that cannot be set up ends the run before any test,
// with the opt-out that would leave it out. Exit status: 0 ready, 1 not ready, 2 bad usage.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT } from './kubexit.js';
import { podPrerequisites } from './pod.js';
import {
  dependents,
  optedOut,
  optOutFor,
  PART_NAMES,
  PARTS,
  skipReason,
  type PartName,
  type Tool,
} from './requires.js';
import { executable, MAKE_ROOTS, ROOTS_DIR, X64_ROOTS } from './roots.js';

const LOGS = join(tmpdir(), `kubexit-test-setup-${process.getuid?.() ?? 'user'}`);
const KUBE_LOCAL = join(ROOT, 'scripts', 'kube-local.sh');
const KUBE_NODE = join(ROOT, 'scripts', 'kube-node.sh');
const SBIN = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const isRoot = process.getuid?.() === 0;

/** Thrown by a step: why its part cannot run here. */
class Unmet extends Error {}

/** What a step did, in a few words, e.g. "running at https://127.0.0.1:16443 (reused)". */
type Step = (log: string) => Promise<string>;

// How each part gets ready, in this order. A part without a step only needs its tools.
const STEPS: Partial<Record<PartName, Step>> = {
  exe: async () => {
    const exe = hostExecutable();
    if (!existsSync(exe)) throw new Unmet(`${rel(exe)} is not built (npm run package)`);
    const r = spawnSync(exe, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Unmet(`${rel(exe)} does not run here: ${firstLine(r)}`);
    return `${rel(exe)} runs (${r.stdout.trim()})`;
  },
  k8s: async (log) => {
    if ((await sh(log, 'bash', [KUBE_LOCAL, 'status'])) === 0) {
      return `${server(log)} already running and ready (reused)`;
    }
    // Its stdout is the export lines, tokens included: not for a log file.
    if ((await sh(log, 'bash', [KUBE_LOCAL, 'up'], 'ignore')) !== 0) {
      throw new Unmet(`scripts/kube-local.sh up failed: ${lastError(log)}`);
    }
    const built = /built .* in \d+s/.test(readFileSync(log, 'utf8'));
    return `${server(log)} ${built ? 'built and started' : 'started'}`;
  },
  pod: async () => {
    const unable = podPrerequisites();
    if (unable) throw new Unmet(unable);
    return 'PID and mount namespaces, static busybox';
  },
  roots: (log) => roots(log, X64_ROOTS),
  arm64: async (log) => {
    if (!existsSync(executable('linux-arm64'))) {
      throw new Unmet('dist/bin/kubexit-linux-arm64 is not built (npm run package)');
    }
    return roots(log, ['arm64']);
  },
  node: async (log) => {
    if ((await sh(log, 'bash', [KUBE_NODE, 'status'])) === 0)
      return 'already up and Ready (reused)';
    // Its stdout is the export lines: not for a log file.
    if ((await sh(log, 'bash', [KUBE_NODE, 'up'], 'ignore')) !== 0) {
      throw new Unmet(`scripts/kube-node.sh up failed: ${lastError(log)}`);
    }
    return 'started: node Ready, the kubernetes Service routed';
  },
  image: async (log) => {
    if (process.arch !== 'x64') throw new Unmet(`the image tests are x64, this is ${process.arch}`);
    // The same architectures as the test asks for, so that its own call finds the image made.
    const arm64 = !skipReason('arm64') && existsSync(join(ROOTS_DIR, 'arm64'));
    const arches = arm64 ? ['amd64', 'arm64'] : ['amd64'];
    if ((await sh(log, 'bash', [join(ROOT, 'scripts', 'image.sh'), ...arches])) !== 0) {
      throw new Unmet(`scripts/image.sh failed: ${lastError(log)}`);
    }
    return `dist/image (${arches.join(', ')})`;
  },
};

async function roots(log: string, names: readonly string[]): Promise<string> {
  const absent = names.filter((n) => !existsSync(join(ROOTS_DIR, n)));
  if (absent.length === 0) return `${names.join(', ')} in ${ROOTS_DIR} (cached)`;
  if ((await sh(log, 'bash', [MAKE_ROOTS, ROOTS_DIR, ...absent])) !== 0) {
    throw new Unmet(`make-roots.sh failed: ${lastError(log)}`);
  }
  return `built ${absent.join(', ')} in ${ROOTS_DIR}`;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let out: Set<PartName>;
  try {
    out = optedOut();
  } catch (err) {
    console.error(`npm test: ${(err as Error).message}`);
    return 2;
  }
  mkdirSync(LOGS, { recursive: true });
  const failed = new Map<PartName, string>();
  const todo = PART_NAMES.filter((p) => {
    const skip = skipReason(p, out);
    if (skip) line(p, 'skipped', skip.replace(/: .*/, ''), -1);
    return !skip;
  });

  // Root and tools first: one apt-get for every part.
  for (const p of todo) {
    if (PARTS[p].root && !isRoot) failed.set(p, 'needs root (uid 0): chroot, mount, namespaces');
  }
  const wanted = todo.filter((p) => !failed.has(p));
  const absent = wanted.flatMap((p) => PARTS[p].tools.filter((t) => !present(t)));
  if (wanted.some((p) => PARTS[p].tools.length > 0)) {
    const t0 = Date.now();
    const packages = [...new Set(absent.map((t) => t.apt))];
    const reason = packages.length > 0 ? await aptInstall(packages) : false;
    for (const p of wanted) {
      const still = PARTS[p].tools.filter((t) => !present(t));
      if (still.length > 0) failed.set(p, `${missingTools(still)}${reason ? `; ${reason}` : ''}`);
    }
    const detail =
      packages.length === 0
        ? 'every tool present'
        : reason
          ? `could not install ${packages.join(' ')}`
          : `installed ${packages.join(' ')}`;
    line('apt', reason ? 'FAILED' : 'ok', detail, Date.now() - t0);
  }

  for (const p of todo) {
    const blocked = PARTS[p].after.find((b) => failed.has(b as PartName));
    if (blocked && !failed.has(p)) failed.set(p, `needs ${blocked}, which cannot run here`);
    const why = failed.get(p);
    if (why) {
      line(p, 'FAILED', why, -1);
      continue;
    }
    const step = STEPS[p];
    const log = join(LOGS, `${p}.log`);
    writeFileSync(log, '');
    const t0 = Date.now();
    try {
      line(p, 'ok', step ? await step(log) : 'nothing to set up', Date.now() - t0);
    } catch (err) {
      const reason = err instanceof Unmet ? err.message : String(err);
      failed.set(p, reason);
      line(p, 'FAILED', `${reason} (log: ${log})`, Date.now() - t0);
    }
  }

  if (failed.size === 0) return 0;
  const names = PART_NAMES.filter((p) => failed.has(p));
  const also = [...new Set(names.flatMap(dependents))].filter((p) => !names.includes(p));
  console.error(
    `\nnpm test: cannot run the ${names.join(', ')} tests here (see above).\n` +
      `  Fix what is missing (npm test installs and starts it itself when it runs as root on Debian),\n` +
      `  or leave those tests out explicitly:  ${optOutFor([...names, ...also])} npm test\n` +
      `  What each part covers and needs: README, "Tests".`,
  );
  return 1;
}

function line(step: string, status: string, detail: string, ms: number): void {
  const time = ms >= 0 ? `${(ms / 1000).toFixed(1)} s` : '';
  console.error(
    `setup  ${step.padEnd(6)} ${status.padEnd(7)} ${detail}${time ? `  (${time})` : ''}`,
  );
}

/** Runs a command with its output appended to `log`; resolves with its exit status. */
function sh(
  log: string,
  file: string,
  args: string[],
  stdout: 'log' | 'ignore' = 'log',
): Promise<number> {
  const fd = openSync(log, 'a');
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      stdio: ['ignore', stdout === 'log' ? fd : 'ignore', fd],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.on('error', () => resolve(127));
    child.on('close', (code) => {
      closeSync(fd);
      resolve(code ?? 1);
    });
  });
}

function present(tool: Tool): boolean {
  if (tool.present) return tool.present();
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN];
  return dirs.some((d) => existsSync(join(d, tool.command)));
}

function missingTools(tools: Tool[]): string {
  return `missing ${tools.map((t) => `${t.command} (Debian: ${t.apt})`).join(', ')}`;
}

/** apt-get install; `false` when done, else why not. A stale or empty package list is refreshed once. */
async function aptInstall(packages: string[]): Promise<string | false> {
  if (!isRoot) return 'cannot install: not root';
  if (!present({ command: 'apt-get', apt: 'apt' }))
    return 'cannot install: no apt-get (not Debian)';
  const log = join(LOGS, 'apt.log');
  writeFileSync(log, '');
  const install = ['-q', '-y', '--no-install-recommends', 'install', ...packages];
  if ((await sh(log, 'apt-get', install)) === 0) return false;
  if (
    (await sh(log, 'apt-get', ['-q', 'update'])) === 0 &&
    (await sh(log, 'apt-get', install)) === 0
  ) {
    return false;
  }
  return `apt-get failed: ${lastError(log)} (log: ${log})`;
}

function hostExecutable(): string {
  return executable(`linux-${process.arch}`);
}

function server(log: string): string {
  const r = spawnSync('bash', [KUBE_LOCAL, 'env'], { encoding: 'utf8' });
  writeFileSync(log, r.stderr, { flag: 'a' });
  return /KUBEXIT_K8S_SERVER=(\S+)/.exec(r.stdout)?.[1] ?? 'the control plane';
}

/** The last line of a log that looks like an error, else its last line. */
function lastError(log: string): string {
  const lines = readFileSync(log, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.filter((l) => /error|^E:|failed/i.test(l)).at(-1) ?? lines.at(-1) ?? 'no output';
}

function firstLine(r: { stderr: string; error?: Error }): string {
  return r.error?.message ?? r.stderr.split('\n')[0] ?? 'no output';
}

function rel(path: string): string {
  return relative(ROOT, path);
}

process.exitCode = await main();
