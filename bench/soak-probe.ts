// Loaded into a node-run kubexit by the soak (NODE_OPTIONS=--import …) to show what a process
// can't see from /proc: its live libuv handles and requests (timers, watchers, sockets). Writes
// them to $SOAK_PROBE_OUT every 100 ms; its own timer is one constant "Timeout".
import { renameSync, writeFileSync } from 'node:fs';

const out = process.env.SOAK_PROBE_OUT;
if (out) {
  const timer = setInterval(() => {
    const counts: Record<string, number> = {};
    for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
    writeFileSync(`${out}.tmp`, JSON.stringify(counts));
    renameSync(`${out}.tmp`, out);
  }, 100);
  timer.unref();
}
