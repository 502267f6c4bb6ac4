// The executables inside minimal roots (chroot), each with a mounted /proc as a container has:
// Bun cannot start without /proc. A static busybox in the root is the supervised child; it
// dies with 3 and the tombstone in the root's graveyard must say so.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
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

  it('empty: the executable run as cp (the Go-era init command) installs a folder that runs there', () => {
    // The image has the executable at /bin/cp; here a copy of it named cp, run outside the root.
    const bin = tempDir();
    const volume = join(tempDir(), 'volume');
    mkdirSync(volume);
    try {
      copyFileSync(executable('linux-x64'), join(bin, 'cp'));
      const r = run(join(bin, 'cp'), ['/app/bin/kubexit', join(volume, 'kubexit')]);
      assert.equal(r.code, 0, r.stderr);
      for (const file of ['kubexit', 'ld', 'lib/libc.so.6']) {
        assert.ok(
          readFileSync(join(volume, file)).equals(readFileSync(join(installed, file))),
          file,
        );
      }
      supervisesIn('empty', volume, '/kubexit/kubexit');
    } finally {
      rmSync(bin, { recursive: true, force: true });
      rmSync(volume, { recursive: true, force: true });
    }
  });

  it('minbase: kubexit supervises a command named cp like any other (only its own name installs)', () => {
    const dir = rootPath('minbase');
    const name = `cp-${Math.random().toString(36).slice(2, 8)}`;
    const mounts: (() => void)[] = [];
    try {
      mounts.push(mount(['-t', 'proc', 'proc'], join(dir, 'proc')));
      mounts.push(mount(['--bind', installed], join(dir, 'kubexit')));
      const env = { KUBEXIT_NAME: name, KUBEXIT_GRAVEYARD: '/graveyard', PATH: '/usr/bin:/bin' };
      // coreutils' cp, copying a file that is not kubexit: the Go-era install must not answer.
      const copied = chroot(
        dir,
        ['/kubexit/kubexit', 'cp', '/etc/debian_version', `/tmp/${name}`],
        env,
      );
      assert.equal(copied.code, 0, copied.stderr);
      assert.match(copied.stderr, /"message":"kubexit initialized"/);
      assert.ok(
        readFileSync(join(dir, 'tmp', name)).equals(readFileSync(join(dir, 'etc/debian_version'))),
      );
      assert.equal(readTombstone(join(dir, 'graveyard', name))?.match(TOMBSTONE)?.[1], '0');
      // And cp's own failure is the child's exit code, as for any command.
      const failed = chroot(
        dir,
        ['/kubexit/kubexit', 'cp', '/bin/kubexit', '/kubexit/kubexit'],
        env,
      );
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /cannot stat '\/bin\/kubexit'/);
      assert.equal(readTombstone(join(dir, 'graveyard', name))?.match(TOMBSTONE)?.[1], '1');
    } finally {
      for (const unmount of mounts.reverse()) unmount();
      rmSync(join(dir, 'tmp', name), { force: true });
      rmSync(join(dir, 'graveyard', name), { force: true });
      rmSync(join(dir, 'graveyard', `.${name}.alive`), { force: true });
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
