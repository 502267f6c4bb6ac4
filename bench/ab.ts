// A/B of builds: the same measures as npm run bench, for any supervisors named on the command
// line, rounds interleaved (A B A B …), so that a change is judged against the build before it
// in the same minutes of a shared machine. Usage (after npm run build && npx tsc):
//   node build/bench/ab.js old=/tmp/kubexit-old new=dist/bin/kubexit-linux-x64 [more…]
//   a supervisor given as `name=node:<file.js>` runs under this Node.
// AB_MEASURES=startup,death,cgroup (the default: all three) picks the measures; the counts are
// BENCH_STARTUP_RUNS, BENCH_DEATH_RUNS and BENCH_CGROUP_RUNS, as for npm run bench.
// AB_SETTLE_MS=n waits n ms after the child runs before the death is written (0, the default,
// is npm run bench's way: the death races the end of the supervisor's start-up, and with it
// the runtime's first garbage collections; a few ms later is a dependency dying mid-run).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Figures, PROBE, REFERENCE, RUNS, type Supervisor } from './harness.js';
import { buildHelpers, deaths, startup, stopWriter } from './measures.js';
import { cgroupSkip, charged } from './memory-cgroup.js';
import { f2, interleaved, pct, results } from './report.js';

const SETTLE_MS = Number(process.env.AB_SETTLE_MS ?? 0);
const deathsSettled = (s: Supervisor): Promise<Figures> => deaths(s, SETTLE_MS);

function supervisors(args: string[]): Supervisor[] {
  return args.map((arg) => {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new Error(`expected name=path, got ${arg}`);
    const id = arg.slice(0, eq);
    const target = arg.slice(eq + 1);
    const onNode = target.startsWith('node:');
    const file = resolve(onNode ? target.slice('node:'.length) : target);
    if (!existsSync(file)) throw new Error(`${file}: not found`);
    const argv = onNode ? [process.execPath, file] : [file];
    const files = [...(onNode ? [process.execPath] : []), file, PROBE, REFERENCE, '/bin/sh'];
    return { id, label: arg, argv, kind: 'kubexit', files };
  });
}

function report(keys: string[], list: Supervisor[], childKey?: string): void {
  for (const key of keys) {
    const bySup = results.get(key);
    if (!bySup) continue;
    const child = childKey ? pct(bySup.get(childKey) ?? [], 50) : 0;
    for (const s of list) {
      const v = bySup.get(s.id);
      if (!v?.length) continue;
      const at = (p: number): string => f2(pct(v, p) - child).padStart(7);
      console.log(
        `${key.padEnd(14)} ${s.id.padEnd(10)} n ${String(v.length).padStart(4)}  median ${at(50)}` +
          `  p90 ${at(90)}  p99 ${at(99)}  max ${at(100)}`,
      );
    }
  }
}

async function main(): Promise<void> {
  buildHelpers();
  const list = supervisors(process.argv.slice(2));
  const which = new Set((process.env.AB_MEASURES ?? 'startup,death,cgroup').split(','));
  console.log(`A/B, rounds interleaved: ${list.map((s) => s.label).join(' ')}`);
  if (which.has('startup')) {
    await interleaved(list, RUNS.startup, startup);
    report(['startup'], list);
  }
  if (which.has('death')) {
    await interleaved(list, RUNS.death, deathsSettled);
    report(['death.rename', 'death.inplace'], list);
  }
  if (which.has('cgroup')) {
    const skip = cgroupSkip();
    if (skip) console.log(`memory cgroup: not measured (${skip})`);
    else {
      const child: Supervisor = {
        id: 'child',
        label: 'the child alone',
        argv: [],
        kind: 'child',
        files: [PROBE, '/bin/sh'],
      };
      await interleaved([...list, child], RUNS.cgroup, charged);
      console.log('memory (MiB), net of the child alone:');
      report(['cg.charged', 'cg.exact', 'cg.rss', 'cg.kmem'], list, 'child');
      report(['cg.vmrss', 'cg.anon'], list);
    }
  }
  stopWriter();
}

await main();
