// Birth dependencies from the graveyard: a dependency's tombstone says whether its child runs
// (Born), is ready (Ready), or ended (Died, ExitCode). No API, no service account: inotify on
// the folder, and each change read at once. A dependency whose tombstone shows its condition
// can never come is reported at once, and so is a cycle of kubexits waiting for each other.
import { birthDepText, dnsLabelProblem, type BirthDep, type Condition } from './config.js';
import { isTempName, type Graveyard } from './graveyard.js';
import type { FolderWatch } from './graveyard-watch.js';
import type { Trace } from './log.js';
import { parseCanonical, type Tombstone } from './tombstone.js';

type Parse = (text: string) => Tombstone;
let parseYaml: Parse | undefined;

const RECHECK_CHANGED = process.versions.bun !== undefined;
const RECHECK_CHANGED_MS = 50;
/** A cycle search reads at most this many tombstones: a hostile graveyard can't grow it. */
const MAX_CYCLE_NODES = 256;

export interface TombstoneHooks {
  /** A dependency's condition is met (once per dependency). */
  met(name: string): void;
  /** Waiting is hopeless: a dependency ended without its condition, or a cycle. */
  failed(err: Error): void;
  /** The graveyard could not be watched again: changes go unseen meanwhile. */
  lost(err: Error): void;
  /**
   * The pod status is read too: a `Ready` that only says the child runs (no probe: written with
   * Born, same time) is left to it, since the kubelet runs that container's readiness probe.
   */
  podStatusToo?: boolean;
}

export interface TombstoneSource {
  close(): void;
  /** Why each dependency still pending is pending, as its tombstone says. */
  pending(): { name: string; why: string; seen: boolean }[];
}

/** What a tombstone says of one condition. */
type Verdict = { met: true } | { met: false; why: string } | { hopeless: string };

function exitText(t: Tombstone): string {
  return t.exitCode === undefined ? 'no exit code' : `exit code ${t.exitCode}`;
}

/**
 * `ready` needs the Ready key, which Go kubexits never write: their Born means started, no
 * more (their readiness comes from the API, as it always did). Once met, a condition stays met.
 */
export function judge(
  name: string,
  condition: Condition,
  t: Tombstone,
  podStatusToo = false,
): Verdict {
  const dead = t.died !== undefined;
  switch (condition) {
    case 'started':
      if (t.born !== undefined) return { met: true };
      if (dead)
        return { hopeless: `birth dependency ${name} ended before it started (${exitText(t)})` };
      return { met: false, why: 'not started' };
    case 'ready':
      if (t.ready !== undefined && !(podStatusToo && t.ready === t.born)) return { met: true };
      if (dead)
        return {
          hopeless: `birth dependency ${name} ended before it was ready (${exitText(t)})`,
        };
      if (t.ready !== undefined)
        return { met: false, why: 'running, no probe of its own: the pod status says when ready' };
      if (t.born !== undefined)
        return {
          met: false,
          why: 'started, not ready: its probe has not passed, or it is a Go kubexit (no Ready key: use :started, or the API)',
        };
      return { met: false, why: 'not started' };
    case 'completed':
      if (dead) return { met: true };
      return { met: false, why: t.born !== undefined ? 'running' : 'not started' };
    case 'succeeded':
      if (dead && t.exitCode === 0) return { met: true };
      if (dead)
        return {
          hopeless: `birth dependency ${name} ended with ${exitText(t)}: ${name}:succeeded needs exit code 0`,
        };
      return { met: false, why: t.born !== undefined ? 'running' : 'not started' };
  }
}

/**
 * Watch first, then read every dependency, then again on each change: a tombstone written
 * before, during or after the start is seen, with no polling.
 */
export function watchBirthTombstones(
  graveyard: Graveyard,
  self: string,
  deps: readonly BirthDep[],
  trace: Trace,
  hooks: TombstoneHooks,
): TombstoneSource {
  const where = `Birth Tombstones(${graveyard.dir})`;
  const byName = new Map(deps.map((d) => [d.name, d]));
  const pending = new Map(deps.map((d) => [d.name, { why: 'no tombstone', seen: false }]));
  const said = new Map<string, string>();
  let cycleNodes = new Set<string>();
  // eslint-disable-next-line prefer-const -- set once watching, after the closures that use it
  let watcher: FolderWatch | undefined;
  let done = false;

  const say = (name: string, why: string): void => {
    if (said.get(name) === why) return;
    said.set(name, why);
    trace.event(`${where}: ${name}: ${why}`);
  };

  const stop = (): void => {
    if (done) return;
    done = true;
    watcher?.close();
    for (const timer of rechecks.values()) clearTimeout(timer);
  };

  /** The tombstone, if one is there and readable; else why not, for the pending list. */
  const read = (name: string): Tombstone | string | undefined => {
    const r = graveyard.read(name);
    if (r.kind === 'none') return 'no tombstone';
    if (r.kind === 'ignored') return `ignored: ${r.detail}`;
    try {
      const t = parseCanonical(r.text) ?? parseYaml?.(r.text);
      if (t !== undefined) return t;
      // Read again once the YAML reader is here: the file may have changed meanwhile.
      void import('./tombstone-parse.js').then((m) => {
        parseYaml = m.parseTombstone;
        check(name);
      });
      return undefined;
    } catch (err) {
      return `unreadable: ${(err as Error).message}`;
    }
  };

  const check = (name: string): void => {
    const dep = byName.get(name);
    const state = pending.get(name);
    if (done || dep === undefined || state === undefined) return;
    const t = read(name);
    if (t === undefined) return;
    if (typeof t === 'string') {
      state.why = t;
      return say(name, t);
    }
    state.seen = true;
    const verdict = judge(name, dep.condition, t, hooks.podStatusToo);
    if ('hopeless' in verdict) {
      say(name, verdict.hopeless);
      stop();
      return hooks.failed(new Error(verdict.hopeless));
    }
    if (!verdict.met) {
      state.why = verdict.why;
      return say(name, verdict.why);
    }
    pending.delete(name);
    trace.event(`${where}: ${birthDepText(dep)}: met`);
    hooks.met(name);
  };

  /**
   * A kubexit waits when its tombstone names birth deps and has neither Born nor Died. If a
   * chain of waiting kubexits leads from us back to us, none of them can ever start.
   */
  const findCycle = (): string[] | undefined => {
    const visited = new Set<string>([self]);
    const waitsOf = (name: string): string[] => {
      const t = read(name);
      if (typeof t !== 'object' || t.born !== undefined || t.died !== undefined) return [];
      return (
        (t.birthDeps ?? '')
          .split(',')
          .map((item) => item.split(':')[0] as string)
          // Only names a kubexit could have written: a hostile file can't send us elsewhere.
          .filter((n) => dnsLabelProblem(n) === undefined)
      );
    };
    const walk = (path: string[], next: readonly string[]): string[] | undefined => {
      for (const name of next) {
        if (name === self) return [...path, self];
        if (visited.has(name) || visited.size >= MAX_CYCLE_NODES) continue;
        visited.add(name);
        const found = walk([...path, name], waitsOf(name));
        if (found) return found;
      }
      return undefined;
    };
    const found = walk([self], [...pending.keys()]);
    cycleNodes = visited;
    return found;
  };

  const lookForCycle = (): void => {
    if (done || pending.size === 0) return;
    const cycle = findCycle();
    if (!cycle) return;
    const message = `birth dependency cycle: ${cycle.join(' → ')}: each waits for the next, none can start`;
    trace.event(`${where}: ${message}`);
    stop();
    hooks.failed(new Error(message));
  };

  // Bun's fs.watch can drop a change that closely follows another of the same file (Born, then
  // Ready): under Bun a changed tombstone is read once more a moment after its last event.
  const rechecks = new Map<string, NodeJS.Timeout>();
  const recheck = (name: string): void => {
    if (!RECHECK_CHANGED || done) return;
    clearTimeout(rechecks.get(name));
    const timer = setTimeout(() => {
      rechecks.delete(name);
      check(name);
      if (cycleNodes.has(name)) lookForCycle();
    }, RECHECK_CHANGED_MS);
    rechecks.set(name, timer.unref());
  };

  const scan = (): void => {
    for (const name of [...pending.keys()]) check(name);
    lookForCycle();
  };

  watcher = graveyard.watch({
    change: (name) => {
      if (done) return;
      if (name === null) return scan(); // the kernel did not say which file: read them all
      if (isTempName(name)) return;
      if (pending.has(name)) {
        check(name);
        recheck(name);
      }
      if (cycleNodes.has(name)) lookForCycle();
    },
    notice: (message) => trace.event(`${where}: ${message}`),
    lost: (err) => {
      trace.event(`${where}: error: ${err.message}`);
      hooks.lost(err);
    },
  });
  scan();

  return {
    close: stop,
    pending: () => [...pending].map(([name, s]) => ({ name, why: s.why, seen: s.seen })),
  };
}
