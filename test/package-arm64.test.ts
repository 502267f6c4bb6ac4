// The arm64 executable under qemu-user, with an arm64 Debian root as its sysroot (-L): --version,
// one supervised child (a static x64 busybox: the kernel runs it natively), and install.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  executable,
  missing,
  needExecutables,
  needRoots,
  qemuAarch64,
  readTombstone,
  rootPath,
  run,
  TOMBSTONE,
} from './support/roots.js';
import { requires } from './support/requires.js';
import { tempDir } from './support/temp.js';

const ARM64 = executable('linux-arm64');
const qemu = qemuAarch64();
const skip = requires(
  'arm64',
  () => needExecutables('linux-arm64'),
  () => missing(qemu === false && 'no qemu-aarch64 (Debian: qemu-user-static)'),
  () => needRoots('arm64', 'empty'),
);
// Not inside the arm64 root, so qemu does not look it up there: the host's x64 busybox.
const BUSYBOX = join(rootPath('empty'), 'bin', 'busybox');

describe('the arm64 executable under qemu-user', { skip }, () => {
  const emulate = (sysroot: string, args: string[], env: Record<string, string> = {}) =>
    run(qemu as string, ['-L', sysroot, ...args], env);

  it('--version and a supervised child', () => {
    const version = emulate(rootPath('arm64'), [ARM64, '--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^kubexit \d+\.\d+\.\d+\n$/);
    const graveyard = tempDir();
    const ran = emulate(rootPath('arm64'), [ARM64, BUSYBOX, 'sh', '-c', 'echo arm; exit 3'], {
      KUBEXIT_NAME: 'arm',
      KUBEXIT_GRAVEYARD: graveyard,
    });
    assert.equal(ran.stdout, 'arm\n', ran.stderr);
    assert.equal(ran.code, 3, ran.stderr);
    assert.equal(readTombstone(join(graveyard, 'arm'))?.match(TOMBSTONE)?.[1], '3');
  });

  it('install, then run from /kubexit with nothing else in the sysroot', () => {
    const sysroot = tempDir();
    const volume = join(sysroot, 'kubexit');
    mkdirSync(volume);
    const r = emulate(rootPath('arm64'), [ARM64, 'install', volume]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ld-linux-aarch64\.so\.1/);
    const graveyard = tempDir();
    const ran = emulate(sysroot, [join(volume, 'kubexit'), BUSYBOX, 'sh', '-c', 'exit 4'], {
      KUBEXIT_NAME: 'arm',
      KUBEXIT_GRAVEYARD: graveyard,
    });
    assert.equal(ran.code, 4, ran.stderr);
    assert.equal(readTombstone(join(graveyard, 'arm'))?.match(TOMBSTONE)?.[1], '4');
  });
});
