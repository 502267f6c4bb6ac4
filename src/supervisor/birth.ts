// Birth dependencies: hold the child until named sibling containers meet their conditions. The
// waiter is loaded only when KUBEXIT_BIRTH_DEPS is set, and the Kubernetes client only when the
// pod is named too (KUBEXIT_POD_NAME, KUBEXIT_NAMESPACE).
import type { Config } from './config.js';
import type { Graveyard } from './graveyard.js';
import type { Log, Trace } from './log.js';

export interface BirthWait {
  config: Config;
  /** Aborted when the wait must end early: a signal or a death dependency. */
  signal: AbortSignal;
  trace: Trace;
  log: Log;
  /** Where the dependencies' tombstones are; without it, only the API is asked. */
  graveyard?: Graveyard;
}

/** Resolves when every birth dependency is ready; rejects on timeout or a hopeless failure. */
export type WaitForBirth = (wait: BirthWait) => Promise<void>;

export const waitForBirthDeps: WaitForBirth = async (wait) => {
  const { waitForBirth } = await import('./birth-wait.js');
  return waitForBirth(wait);
};
