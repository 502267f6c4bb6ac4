// Death dependencies: tell the supervisor, once, when the tombstone of any dependency says Died.
// Loaded only when KUBEXIT_DEATH_DEPS is set. Tombstones in the shape kubexits write are decoded
// directly; the YAML library is loaded only for the first one in any other shape.
import type { Graveyard } from './graveyard.js';
import { isTempName } from './graveyard.js';
import type { FolderWatch } from './graveyard-watch.js';
import type { Trace } from './log.js';
import { isDead, parseCanonical, tombstoneJson, type Tombstone } from './tombstone.js';

type Parse = (text: string) => Tombstone;

const RECHECK_CHANGED = process.versions.bun !== undefined;
const RECHECK_CHANGED_MS = 50;
let parseYaml: Parse | undefined;

export interface Death {
  name: string;
  tombstone: Tombstone;
}

export interface DeathWatch {
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
   * watch going: the other dependencies still count, and this one may die again. */
  counts: (death: Death) => boolean = () => true,
): DeathWatch {
  const wanted = new Set(deps);
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

  const close = (): void => {
    if (done) return;
    done = true;
    watcher?.close();
    trace.event(`${where}: done`);
  };

  const check = (name: string): void => {
    if (done) return;
    trace.event(`Reading tombstone: ${name}`);
    const read = graveyard.read(name);
    if (read.kind === 'none') return void problems.delete(name);
    if (read.kind === 'ignored') {
      // Not a tombstone (a FIFO, a symlink, a huge file…): no news, neither death nor error.
      return problem(name, read.problem, `Ignoring tombstone ${name}: ${read.detail}`);
    }
    const text = read.text;
    let tombstone: Tombstone | undefined;
    try {
      tombstone = parseCanonical(text) ?? parseYaml?.(text);
      if (tombstone === undefined) {
        // Read again once the YAML reader is here: the file may have changed meanwhile.
        void import('./tombstone-parse.js').then((m) => {
          parseYaml = m.parseTombstone;
          check(name);
        });
        return;
      }
    } catch (err) {
      // A garbage tombstone is not a death; the next write will be re-read.
      const message = (err as Error).message;
      return problem(name, message, `Handler error: failed to read tombstone ${name}: ${message}`);
    }
    if (isDead(tombstone) && !counts({ name, tombstone })) {
      const code = tombstone.exitCode ?? 'none';
      return problem(
        name,
        `uncounted ${tombstone.died}`,
        `Death not counted: ${name} (ExitCode ${code})`,
      );
    }
    problems.delete(name);
    if (!isDead(tombstone)) return;
    // Act first, write the story after: the trace costs time the child's TERM shouldn't wait.
    done = true;
    watcher?.close();
    onDeath({ name, tombstone });
    trace.event(`New death: ${name}`);
    trace.event(`Tombstone(${name}): ${tombstoneJson(tombstone)}`);
    trace.event(`${where}: done`);
  };

  // Bun's fs.watch drops a change event that closely follows another of the same file (a Go
  // kubexit's truncate-then-write right after its Born write): under Bun, read a changed
  // tombstone once more a moment after its last event, so that its last write is not missed.
  const rechecks = new Map<string, NodeJS.Timeout>();
  const recheck = (name: string): void => {
    if (!RECHECK_CHANGED || done) return;
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
    if (!wanted.has(name)) return trace.event(`Ignore tombstone ${name}`);
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
  scan();
  return { close };
}
