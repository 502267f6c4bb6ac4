// Death dependencies: tell the supervisor, once, when the tombstone of any dependency says Died.
// Loaded only when KUBEXIT_DEATH_DEPS is set. Tombstones in the shape kubexits write are decoded
// directly; the YAML library is loaded only for the first one in any other shape.
import type { Graveyard } from './graveyard.js';
import { isTempName } from './graveyard.js';
import { eventsMayBeLost } from '../platform/watch.js';
import type { FolderWatch } from './graveyard-watch.js';
import { followLiveness, giveUpIfRemoved, livenessOwner } from './liveness.js';
import type { Trace } from './log.js';
import { isDead, parseCanonical, tombstoneJson, type Tombstone } from './tombstone.js';

type Parse = (text: string) => Tombstone;

const RECHECK_CHANGED_MS = 50;
const WARM_DIED =
  'Born: "2020-04-28T10:41:46.9926314Z"\nDied: "2020-04-28T10:41:47Z"\nExitCode: 0\n';
let parseYaml: Parse | undefined;

export interface Death {
  name: string;
  tombstone: Tombstone;
  /** Its kubexit is gone without writing Died (liveness.ts): how that was seen. */
  unrecorded?: string;
}

export interface DeathWatch {
  /** Resolves once what was read so far is settled (a liveness connection being set up). */
  settled(): Promise<void>;
  close(): void;
}

/**
 * Watch first, then read every dependency's tombstone, then re-read on each event: a death
 * before, during or after start-up is seen, with no polling. `onDeath` may run before this
 * returns (a dependency that was already dead).
 */
export function watchDeaths(
  graveyard: Graveyard,
  deps: readonly string[],
  trace: Trace,
  onDeath: (death: Death) => void,
  /** The graveyard could not be watched again after the start: deaths go unseen meanwhile. */
  onLost: (err: Error) => void = () => {},
  /** Whether a death counts (a condition such as main:failed); one that doesn't keeps the
   * watch going: the other dependencies still count, and this one may die again. None: every
   * death counts. */
  counts?: (death: Death) => boolean,
): DeathWatch {
  const wanted = new Set(deps);
  const recheckChanged = eventsMayBeLost();
  const where = `Tombstone Watch(${graveyard.dir})`;
  let watcher: FolderWatch | undefined;
  let done = false;
  // What was last wrong with each dependency's file: said once, again only after it changed.
  const problems = new Map<string, string>();
  const problem = (name: string, key: string, message: string): void => {
    if (problems.get(name) === key) return;
    problems.set(name, key);
    trace.event(message);
  };

  // Crash-safe deaths: a dependency whose tombstone says it lives is followed (liveness.ts);
  // when its kubexit is gone, its tombstone is read once more: Died there is a normal death.
  const liveness = followLiveness(graveyard.dir, trace, (name, how) => {
    const tombstone = check(name) ?? {};
    if (done) return;
    // No ExitCode: a condition sees a failure (main:failed counts it, main:succeeded doesn't).
    const death = { name, tombstone, unrecorded: how };
    if (counts?.(death) === false)
      return trace.event(`Death not counted: ${name} (without a record)`);
    die(death);
  });

  const close = (): void => {
    if (done) return;
    done = true;
    watcher?.close();
    liveness.close();
    trace.event(`${where}: done`);
  };

  const die = (death: Death, read = false): void => {
    // Act first, tidy up and write the story after: the child's TERM waits for neither.
    done = true;
    onDeath(death);
    watcher?.close();
    liveness.close();
    const { name, unrecorded } = death;
    if (read) trace.event(`Reading tombstone: ${name}`);
    trace.event(
      unrecorded ? `New death: ${name} (without a record: ${unrecorded})` : `New death: ${name}`,
    );
    trace.event(`Tombstone(${name}): ${tombstoneJson(death.tombstone)}`);
    trace.event(`${where}: done`);
  };

  /** Acts on what the tombstone says; returns it when it was read and not acted on. */
  const check = (name: string): Tombstone | undefined => {
    if (done) return;
    const read = graveyard.read(name);
    // Traced after the read, and after the TERM when the tombstone says Died (in die).
    if (read.kind !== 'text') {
      trace.event(`Reading tombstone: ${name}`);
      if (read.kind === 'none') return void problems.delete(name);
      // Not a tombstone (a FIFO, a symlink, a huge file…): no news, neither death nor error.
      problem(name, read.problem, `Ignoring tombstone ${name}: ${read.detail}`);
      return;
    }
    const text = read.text;
    let tombstone: Tombstone | undefined;
    try {
      tombstone = parseCanonical(text) ?? parseYaml?.(text);
    } catch (err) {
      // A garbage tombstone is not a death; the next write will be re-read.
      trace.event(`Reading tombstone: ${name}`);
      const message = (err as Error).message;
      problem(name, message, `Handler error: failed to read tombstone ${name}: ${message}`);
      return;
    }
    if (tombstone !== undefined && isDead(tombstone) && counts?.({ name, tombstone }) !== false) {
      problems.delete(name);
      die({ name, tombstone }, true);
      return;
    }
    trace.event(`Reading tombstone: ${name}`);
    if (tombstone === undefined) {
      // Read again once the YAML reader is here: the file may have changed meanwhile.
      void import('./tombstone-parse.js').then((m) => {
        parseYaml = m.parseTombstone;
        check(name);
      });
      return;
    }
    if (isDead(tombstone)) {
      const code = tombstone.exitCode ?? 'none';
      problem(name, `uncounted ${tombstone.died}`, `Death not counted: ${name} (ExitCode ${code})`);
      return tombstone;
    }
    problems.delete(name);
    liveness.follow(name);
    return tombstone;
  };

  // The last resort, only where events may be lost (Bun's fs.watch, when inotify cannot be used
  // directly: see platform/watch.ts): it drops a change event that closely follows another of
  // the same file (a Go kubexit's truncate-then-write), so a changed tombstone is read once
  // more a moment after its last event, so that its last write is not missed.
  const rechecks = new Map<string, NodeJS.Timeout>();
  const recheck = (name: string): void => {
    if (!recheckChanged || done) return;
    clearTimeout(rechecks.get(name));
    const timer = setTimeout(() => {
      rechecks.delete(name);
      check(name);
    }, RECHECK_CHANGED_MS);
    rechecks.set(name, timer.unref());
  };

  const scan = (): void => {
    for (const name of wanted) check(name);
  };

  const onChange = (name: string | null): void => {
    if (name === null) return scan(); // the kernel did not say which file: read them all
    if (isTempName(name)) return;
    const owner = livenessOwner(name); // a dependency's socket came or went: look again
    if (owner !== undefined && !wanted.has(name)) {
      if (wanted.has(owner)) return void check(owner);
      // Ours, removed: it would hide the folder's own deletion from this watch (liveness.ts).
      if (giveUpIfRemoved()) trace.event(`${where}: our liveness socket was removed: given up`);
      return;
    }
    if (!wanted.has(name)) {
      // A hidden file that no one here depends on is someone's temporary file (an atomic
      // writer's, renamed onto its tombstone next): not worth a trace line before that event.
      if (name.startsWith('.')) return;
      return trace.event(`Ignore tombstone ${name}`);
    }
    check(name);
    recheck(name);
  };

  const start = (): void => {
    // Follows the folder if it is deleted or replaced; throws only when inotify says no.
    watcher = graveyard.watch({
      change: onChange,
      notice: (message) => trace.event(`${where}: ${message}`),
      lost: (err) => {
        trace.event(`${where}: error: ${err.message}`);
        onLost(err);
      },
    });
  };

  start();
  if (recheckChanged)
    trace.event(
      `${where}: no inotify of its own (libc not reached): Bun's fs.watch, which may drop an event; each change is read again 50 ms later`,
    );
  scan();
  // The decoder's first run on a Died tombstone costs Bun some 50 µs (cold code, the regular
  // expression's other branch): paid here, not by the death.
  parseCanonical(WARM_DIED);
  return { close, settled: () => liveness.settled() };
}
