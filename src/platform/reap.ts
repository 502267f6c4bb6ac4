// PID 1 duties, in the Bun executable: kubexit is PID 1 of its container, so the orphans of its
// child become its children, and zombies once they exit, unless it waits for them. Bun waits
// only for the children it spawned, and Node has no waitpid at all: under Bun, libc's is called
// through bun:ffi, for each child of ours but the supervised one, whose exit status stays
// Bun's. The node build does nothing here (its orphans stay zombies until the container ends).
// node:fs is loaded only once an orphan shows up: it costs every start memory under Bun.
import { nodeFs } from './fs.js';

const WNOHANG = 1;

type Waitpid = (pid: number, status: null, options: number) => number;

let started = false;
let waitpid: Waitpid | undefined;

/**
 * On each SIGCHLD, reaps every exited child of ours but `supervised()` (the supervised child's
 * pid while Bun has not reaped it). Only a child we did not spawn loads bun:ffi and libc: that
 * takes being PID 1 or a child subreaper, so other runs pay one read of /proc per SIGCHLD.
 */
export function reapOrphans(
  supervised: () => number | undefined,
  onLoadError: (err: Error) => void,
): void {
  if (started || process.versions.bun === undefined) return;
  started = true;
  process.on('SIGCHLD', () => void sweep(supervised, onLoadError));
}

async function sweep(
  supervised: () => number | undefined,
  onLoadError: (err: Error) => void,
): Promise<void> {
  // /proc's children lists are read without a lock and may miss one that changed meanwhile:
  // read again until a pass reaps nothing.
  for (;;) {
    const ours = supervised();
    const orphans = childrenOfSelf().filter((pid) => pid !== ours);
    if (orphans.length === 0) return;
    waitpid ??= await loadWaitpid(onLoadError);
    if (waitpid === undefined) return;
    let reaped = 0;
    for (const pid of orphans) if (waitpid(pid, null, WNOHANG) > 0) reaped++;
    if (reaped === 0) return;
  }
}

/** The children of every thread of ours (a child belongs to the thread that forked it). */
function childrenOfSelf(): number[] {
  const pids: number[] = [];
  const fs = nodeFs();
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      const list = fs.readFileSync(`/proc/self/task/${tid}/children`, 'latin1');
      for (const pid of list.split(' ')) if (pid !== '' && pid !== '\n') pids.push(Number(pid));
    }
  } catch {
    // no /proc, or a kernel without children lists (CONFIG_PROC_CHILDREN): nothing to go on
  }
  return pids;
}

let loadFailed = false;

/**
 * libc's waitpid. "libc.so.6" is glibc's name; musl's loader takes any "libc." name as itself.
 * Both are loaded already (Bun links libc), so dlopen finds them without a library path.
 */
async function loadWaitpid(onError: (err: Error) => void): Promise<Waitpid | undefined> {
  if (loadFailed) return undefined;
  try {
    interface BunFfi {
      dlopen(
        lib: string,
        symbols: Record<string, { args: string[]; returns: string }>,
      ): { symbols: { waitpid: Waitpid } };
    }
    const ffi = (await import('bun:ffi' as string)) as BunFfi;
    const libc = ffi.dlopen('libc.so.6', {
      waitpid: { args: ['i32', 'ptr', 'i32'], returns: 'i32' },
    });
    return libc.symbols.waitpid;
  } catch (err) {
    loadFailed = true; // said once
    onError(err as Error);
    return undefined;
  }
}
