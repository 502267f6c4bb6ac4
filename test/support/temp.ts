import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh folder on tmpfs where there is one, as a pod's emptyDir (medium: Memory) would be. */
export function tempDir(prefix = 'kubexit-test-'): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, prefix));
}
