import type { BirthWait } from '../birth.js';

export async function waitForPodReadiness(_wait: BirthWait): Promise<void> {
  throw new Error('birth dependencies are not available in this build yet');
}
