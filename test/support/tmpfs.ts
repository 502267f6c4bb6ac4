// A real, tiny tmpfs, as a pod's emptyDir with `medium: Memory` and a `sizeLimit` is. Root only.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp.js';

export const IS_ROOT = process.getuid?.() === 0;
export const NOT_ROOT = IS_ROOT ? false : 'needs root (mount, setpriv)';

export class Tmpfs {
  readonly dir: string;
  private mounted = true;

  constructor(bytes: number) {
    this.dir = tempDir('kubexit-tmpfs-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0777`, 'tmpfs', this.dir]);
  }

  /** As another container would: one file takes every block that is left. */
  fill(name = 'filler'): void {
    const fd = openSync(join(this.dir, name), 'w');
    const block = Buffer.alloc(4096, 1);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      closeSync(fd);
    }
    const { bavail } = statfsSync(this.dir);
    if (bavail !== 0) throw new Error(`the tmpfs still has ${bavail} free blocks`);
  }

  readOnly(): void {
    execFileSync('mount', ['-o', 'remount,ro', this.dir]);
  }

  unmount(): void {
    if (!this.mounted) return;
    this.mounted = false;
    try {
      execFileSync('umount', [this.dir]);
    } catch {
      execFileSync('umount', ['--lazy', this.dir]); // a failed test's process still in it
    }
    rmSync(this.dir, { recursive: true });
  }
}
