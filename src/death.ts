// Death dependencies: tell the supervisor, once, when the tombstone of any dependency says Died.
// Loaded only when KUBEXIT_DEATH_DEPS is set (it pulls in the YAML reader).
import type { FSWatcher } from 'node:fs';
import type { Graveyard } from './graveyard.js';
import { isTempName } from './graveyard.js';
import type { Trace } from './log.js';
import { isDead, tombstoneJson, type Tombstone } from './tombstone.js';
import { parseTombstone } from './tombstone-parse.js';

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
): DeathWatch {
  const wanted = new Set(deps);
  const where = `Tombstone Watch(${graveyard.dir})`;
  let watcher: FSWatcher | undefined;
  let done = false;

  const close = (): void => {
    if (done) return;
    done = true;
    watcher?.close();
    trace.event(`${where}: done`);
  };

  const check = (name: string): void => {
    if (done) return;
    trace.event(`Reading tombstone: ${name}`);
    let tombstone: Tombstone;
    try {
      const text = graveyard.read(name);
      if (text === undefined) return;
      tombstone = parseTombstone(text);
    } catch (err) {
      // A garbage or unreadable tombstone is not a death; the next write will be re-read.
      trace.event(`Handler error: failed to read tombstone ${name}: ${(err as Error).message}`);
      return;
    }
    if (!isDead(tombstone)) return;
    trace.event(`New death: ${name}`);
    trace.event(`Tombstone(${name}): ${tombstoneJson(tombstone)}`);
    close();
    onDeath({ name, tombstone });
  };

  const scan = (): void => {
    for (const name of wanted) check(name);
  };

  const onChange = (name: string | null): void => {
    if (name === null) return scan(); // the kernel did not say which file: read them all
    if (isTempName(name)) return;
    if (!wanted.has(name)) return trace.event(`Ignore tombstone ${name}`);
    check(name);
  };

  const start = (): void => {
    watcher = graveyard.watch(onChange);
    watcher.on('error', (err) => {
      // Events may have been lost: watch again and read everything.
      trace.event(`${where}: error: ${err.message}`);
      watcher?.close();
      if (done) return;
      start();
      scan();
    });
  };

  start();
  scan();
  return { close };
}
