// Birth dependencies: hold the child until named sibling containers are ready. The waiter is
// loaded only when KUBEXIT_BIRTH_DEPS is set, so other runs never load a Kubernetes client.
import type { Config } from './config.js';
import type { Log, Trace } from './log.js';

export interface BirthWait {
  config: Config;
  /** Aborted when the wait must end early: a signal or a death dependency. */
  signal: AbortSignal;
  trace: Trace;
  log: Log;
}

/** Resolves when every birth dependency is ready; rejects on timeout or a hopeless failure. */
export type WaitForBirth = (wait: BirthWait) => Promise<void>;

export const waitForBirthDeps: WaitForBirth = async (wait) => {
  const { waitForPodReadiness } = await import('./kube/readiness.js');
  return waitForPodReadiness(wait);
};
