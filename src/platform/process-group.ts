// A process group, once its leader is gone: signalled by its id, and alive while any member
// that is not a zombie remains. kill(-pgid) reaches only members; the kernel does not give the
// id to a new process while the group has one.
// node:fs is loaded only once a process group is to be ended: it costs every start memory under Bun.
import { nodeFs } from './fs.js';

/** Sends `sig` to every member of group `pgid`; false when it has none left. */
export function killGroup(pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false; // ESRCH: no member left
  }
}

/**
 * Whether group `pgid` has a member that still runs. A zombie counts as a member for kill(2)
 * but is done: one that nobody reaps (the node build as PID 1) must not hold the end back.
 */
export function groupRuns(pgid: number): boolean {
  if (!killGroup(pgid, 0)) return false;
  const fs = nodeFs();
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return true; // no /proc: only kill(2) can tell, and it says there are members
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') return true;
  }
  return false;
}
