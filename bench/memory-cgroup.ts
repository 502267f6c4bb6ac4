// Memory as the kubelet sees it: a fresh memory cgroup (v1) holding only the supervisor and its
// sleeping child, the executables' pages already cached and charged elsewhere (as the init
// container's copy leaves them).
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmdirSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  baseEnv,
  cleaners,
  type Figures,
  kill,
  PROBE,
  settle,
  start,
  status,
  type Supervisor,
} from './harness.js';

export const CGROUP_ROOT = '/sys/fs/cgroup/memory';
const cgroups = new Set<string>();

cleaners.push(() => {
  for (const dir of cgroups) {
    for (let i = 0; i < 100 && existsSync(dir); i++) {
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n'))
        if (pid) kill(Number(pid));
      try {
        rmdirSync(dir);
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // the kills land
      }
    }
  }
});

export function cgroupSkip(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync(join(CGROUP_ROOT, 'memory.stat')))
    return `no cgroup v1 memory controller at ${CGROUP_ROOT}`;
  return undefined;
}

/** Reads each file whole from here (outside the cgroup): its pages are cached, charged to us. */
function cache(files: string[]): void {
  const buf = Buffer.alloc(1 << 20);
  for (const file of files) {
    const fd = openSync(file, 'r');
    while (readSync(fd, buf, 0, buf.length, null) > 0);
    closeSync(fd);
  }
}

let cgroupSeq = 0;
const MiB = 1024 * 1024;

/**
 * A fresh memory cgroup holding only the supervisor and its sleeping child (or the child alone:
 * kind 'child'), read once they are settled.
 */
export async function charged(s: Supervisor): Promise<Figures> {
  cache(s.files);
  const dir = join(CGROUP_ROOT, `kubexit-bench-${process.pid}-${++cgroupSeq}`);
  mkdirSync(dir);
  cgroups.add(dir);
  const enter = 'echo $$ > "$0/cgroup.procs" && exec "$@"';
  const env = baseEnv({ KUBEXIT_DEATH_DEPS: 'main' });
  const run = start(['/bin/sh', '-c', enter, dir, ...s.argv, PROBE, 'term'], env);
  await run.line(); // the child runs
  const settled = await settle([run.proc.pid as number], dir);
  const stat = Object.fromEntries(
    readFileSync(join(dir, 'memory.stat'), 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k, Number(v) / MiB]),
  ) as Record<string, number>;
  const bytes = (file: string): number => Number(readFileSync(join(dir, file), 'utf8')) / MiB;
  const figures: Figures = {
    'cg.charged': bytes('memory.usage_in_bytes'),
    'cg.rss': stat.rss ?? NaN,
    'cg.cache': stat.cache ?? NaN,
    'cg.mapped': stat.mapped_file ?? NaN,
    'cg.kmem': bytes('memory.kmem.usage_in_bytes'),
    'cg.workingset': bytes('memory.usage_in_bytes') - (stat.total_inactive_file ?? 0),
    // Without the pages charged ahead: what is really in use.
    'cg.exact': (stat.rss ?? NaN) + (stat.cache ?? NaN) + bytes('memory.kmem.usage_in_bytes'),
  };
  const own = status(run.proc.pid as number);
  figures['cg.vmrss'] = own['mem.vmrss'] as number;
  figures['cg.anon'] = own['mem.anon'] as number;
  if (!settled) console.error(`  ${s.id}: still busy after 6 s; read anyway`);
  run.proc.kill('SIGTERM');
  await run.exited;
  for (let i = 0; existsSync(dir); i++) {
    try {
      rmdirSync(dir);
      cgroups.delete(dir);
    } catch (err) {
      if (i > 50) throw err;
      await sleep(10);
    }
  }
  return figures;
}
