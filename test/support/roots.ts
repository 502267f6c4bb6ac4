// Minimal roots to chroot into (see make-roots.sh), and the packaged executables to run there.
// The checks here say what is missing; requires.ts decides whether that skips or fails.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './kubexit.js';

export const ROOTS_DIR = process.env.KUBEXIT_ROOTS_DIR ?? '/var/cache/kubexit-roots';
export const ROOT_NAMES = ['empty', 'glibc', 'musl', 'minbase', 'arm64'] as const;
export type RootName = (typeof ROOT_NAMES)[number];
/** The roots the x64 tests chroot into; arm64 is the arm64 part's. */
export const X64_ROOTS: readonly RootName[] = ['empty', 'glibc', 'musl', 'minbase'];
export const MAKE_ROOTS = join(ROOT, 'test', 'support', 'make-roots.sh');

export function executable(name: string): string {
  return join(ROOT, 'dist', 'bin', `kubexit-${name}`);
}

/** `reason` as given: a named spot for "this is missing"; requires() decides what it means. */
export function missing(reason: string | false): string | false {
  return reason;
}

export function needExecutables(...names: string[]): string | false {
  const absent = names.filter((n) => !existsSync(executable(n)));
  return missing(absent.length > 0 && `not built (npm run package): ${absent.join(', ')}`);
}

/**
 * Builds the roots that are not there yet (make-roots.sh; npm test's setup has normally built
 * them already); `false` when they are ready, else why not.
 */
export function needRoots(...names: RootName[]): string | false {
  const wanted = names.length > 0 ? names : X64_ROOTS;
  if (process.getuid?.() !== 0) return 'needs root (chroot, mount)';
  const absent = wanted.filter((n) => !existsSync(join(ROOTS_DIR, n)));
  if (absent.length === 0) return false;
  try {
    execFileSync('bash', [MAKE_ROOTS, ROOTS_DIR, ...absent], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 600_000,
    });
    return false;
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    return `cannot build the roots: ${stderr.split('\n').at(-1) ?? (err as Error).message}`;
  }
}

export function rootPath(name: RootName): string {
  return join(ROOTS_DIR, name);
}

/** Mounts `what` on `where` (proc, or a bind mount); returns the unmount. */
export function mount(args: string[], where: string): () => void {
  execFileSync('mount', [...args, where]);
  return () => execFileSync('umount', ['-l', where]);
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command and waits; the environment is exactly `env`. */
export function run(file: string, args: string[], env: Record<string, string> = {}): Ran {
  const r: SpawnSyncReturns<string> = spawnSync(file, args, {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CHROOT = ['/usr/sbin/chroot', '/usr/bin/chroot', '/sbin/chroot'].find((p) => existsSync(p));

export function chroot(root: string, args: string[], env: Record<string, string> = {}): Ran {
  if (CHROOT === undefined) throw new Error('no chroot command');
  return run(CHROOT, [root, ...args], { PATH: '/bin', ...env });
}

export function qemuAarch64(): string | false {
  for (const q of ['/usr/bin/qemu-aarch64-static', '/usr/bin/qemu-aarch64']) {
    if (existsSync(q)) return q;
  }
  return false;
}

export const TOMBSTONE = /^Born: "[^"]+"\nDied: "[^"]+"\nExitCode: (\d+)\n(?:Ready: "[^"]+"\n)?$/;

export function readTombstone(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
