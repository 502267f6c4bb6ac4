// The executables inside minimal roots (chroot), each with a mounted /proc as a container has:
// Bun cannot start without /proc. A static busybox in the root is the supervised child; it
// dies with 3 and the tombstone in the root's graveyard must say so.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readElf } from '../src/tooling/install.js';
import {
  chroot,
  executable,
  mount,
  needExecutables,
  needRoots,
  readTombstone,
  rootPath,
  run,
  TOMBSTONE,
  type RootName,
} from './support/roots.js';
import { requires } from './support/requires.js';
import { tempDir } from './support/temp.js';

const skip = requires(
  'roots',
  () => needExecutables('linux-x64', 'linux-x64-musl'),
  () => needRoots(),
);

/** In `root`, with `volume` mounted at /kubexit: --version, then a child that exits 3. */
function supervisesIn(root: RootName, volume: string, command: string): void {
  const dir = rootPath(root);
  const mounts: (() => void)[] = [];
  try {
    mounts.push(mount(['-t', 'proc', 'proc'], join(dir, 'proc')));
    mkdirSync(join(dir, 'kubexit'), { recursive: true });
    mounts.push(mount(['--bind', volume], join(dir, 'kubexit')));
    const version = chroot(dir, [command, '--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^kubexit \d+\.\d+\.\d+\n$/);

    const name = `job-${Math.random().toString(36).slice(2, 8)}`;
    const ran = chroot(dir, [command, '/bin/busybox', 'sh', '-c', 'echo child ran; exit 3'], {
      KUBEXIT_NAME: name,
      KUBEXIT_GRAVEYARD: '/graveyard',
    });
    assert.equal(ran.stdout, 'child ran\n', ran.stderr);
    assert.equal(ran.code, 3, ran.stderr);
    const tombstone = readTombstone(join(dir, 'graveyard', name));
    rmSync(join(dir, 'graveyard', name), { force: true });
    assert.equal(tombstone?.match(TOMBSTONE)?.[1], '3', tombstone);
  } finally {
    for (const unmount of mounts.reverse()) unmount();
  }
}

describe('in minimal roots (chroot)', { skip }, () => {
  let installed = '';
  let asBuilt = '';
  before(() => {
    installed = join(tempDir(), 'volume');
    mkdirSync(installed);
    const r = run(executable('linux-x64'), ['install', installed]);
    assert.equal(r.code, 0, r.stderr);
    asBuilt = join(executable('linux-x64'), '..');
  });

  for (const root of ['empty', 'musl', 'glibc', 'minbase'] as const) {
    it(`${root}: the installed folder at /kubexit runs /kubexit/kubexit <child>`, () => {
      supervisesIn(root, installed, '/kubexit/kubexit');
    });
  }

  it('empty: an installed copy installs itself again, byte for byte', () => {
    const dir = rootPath('empty');
    const again = `again-${Math.random().toString(36).slice(2, 8)}`;
    const mounts: (() => void)[] = [];
    try {
      mounts.push(mount(['-t', 'proc', 'proc'], join(dir, 'proc')));
      mkdirSync(join(dir, 'kubexit'), { recursive: true });
      mounts.push(mount(['--bind', installed], join(dir, 'kubexit')));
      const r = chroot(dir, ['/kubexit/kubexit', 'install', `/${again}`]);
      assert.equal(r.code, 0, r.stderr);
      for (const file of ['kubexit', 'ld', 'lib/libc.so.6']) {
        assert.ok(
          readFileSync(join(dir, again, file)).equals(readFileSync(join(installed, file))),
          file,
        );
      }
    } finally {
      for (const unmount of mounts.reverse()) unmount();
      rmSync(join(dir, again), { recursive: true, force: true });
    }
  });

  for (const root of ['glibc', 'minbase'] as const) {
    it(`${root}: the x64 executable as built runs with the root's own glibc`, () => {
      supervisesIn(root, asBuilt, '/kubexit/kubexit-linux-x64');
    });
  }

  it('musl: the x64-musl executable needs a musl libstdc++, which Debian does not package', (t) => {
    const elf = readElf(executable('linux-x64-musl'));
    assert.equal(elf.interp, '/lib/ld-musl-x86_64.so.1');
    // Alpine has it (apk add libstdc++); the installed glibc folder above is the musl answer.
    t.skip('no musl libstdc++ to run it with on Debian');
  });
});
