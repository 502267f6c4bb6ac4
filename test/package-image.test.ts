// The image, built without a container engine (scripts/image.sh → the OCI layout dist/image) and
// unpacked with umoci as a container runtime would: its config matches the Dockerfile, its
// entrypoint runs in its own root (chroot, /proc mounted), the init container of the examples
// installs kubexit into a volume, and that volume then runs a child in a root with nothing else.
// arm64 too when qemu-aarch64 is here, with the image's root as the emulator's sysroot.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { MOUNT_PATH } from '../src/tooling/install.js';
import { ROOT } from './support/kubexit.js';
import {
  chroot,
  executable,
  missing,
  mount,
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

const VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
const LAYOUT = join(ROOT, 'dist', 'image');
const UMOCI = ['/usr/bin/umoci', '/usr/sbin/umoci', '/usr/local/bin/umoci'].find(existsSync);
const qemu = qemuAarch64();

const skip = requires(
  'image',
  () => missing(process.arch !== 'x64' && `the test roots are x64, this is ${process.arch}`),
  () => missing(UMOCI === undefined && 'no umoci (Debian: umoci)'),
  () => needExecutables('linux-x64'),
  () => needRoots(),
);
// The arm64 image too, unless the arm64 part is opted out (noArm: why not, or false).
const noArm =
  skip ||
  requires(
    'arm64',
    () => missing(qemu === false && 'no qemu-aarch64 (Debian: qemu-user-static)'),
    () => needExecutables('linux-arm64'),
    () => needRoots('arm64'),
  );
const arm64 = noArm === false;

interface ImageConfig {
  architecture: string;
  os: string;
  config: { Entrypoint?: string[]; Cmd?: string[]; Labels?: Record<string, string> };
  rootfs: { diff_ids: string[] };
}

function blob(digest: string): unknown {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return JSON.parse(readFileSync(join(LAYOUT, 'blobs', algorithm, hex), 'utf8'));
}

/** The config of the image tagged `tag` in the OCI layout. */
function imageConfig(tag: string): ImageConfig {
  const index = JSON.parse(readFileSync(join(LAYOUT, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const entry = index.manifests.find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag,
  );
  assert.ok(entry, `no ${tag} in ${LAYOUT}/index.json`);
  const manifest = blob(entry.digest) as { config: { digest: string } };
  return blob(manifest.config.digest) as ImageConfig;
}

/** `umoci unpack` into a fresh bundle; returns its rootfs. */
function unpack(tag: string, into: string): string {
  const bundle = join(into, `bundle-${tag}`);
  execFileSync(UMOCI as string, ['unpack', '--image', `${LAYOUT}:${tag}`, bundle], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return join(bundle, 'rootfs');
}

/** Every file and link under `dir`, relative, sorted (folders left out). */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

function sameFiles(a: string, b: string): void {
  assert.deepEqual(files(a), files(b));
  for (const f of files(a)) {
    assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
  }
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  volumeMounts?: { name: string; mountPath: string }[];
}

/** The kubexit init container of an example, and where its app containers mount the volume. */
function initContainerOf(example: string) {
  const job = parse(readFileSync(join(ROOT, 'examples', example, 'job.yaml'), 'utf8')) as {
    spec: { template: { spec: Record<string, Container[]> } };
  };
  const pod = job.spec.template.spec;
  const init = pod.initContainers?.find((c) => c.name === 'kubexit');
  assert.ok(init, `${example}: no kubexit init container`);
  const volume = init.volumeMounts?.find((m) => m.name === 'kubexit')?.mountPath;
  const apps = (pod.containers ?? []).map(
    (c) => c.volumeMounts?.find((m) => m.name === 'kubexit')?.mountPath,
  );
  return { init, volume, apps };
}

/** The Dockerfile's final stage, as far as the image config shows it. */
function dockerfile() {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const instruction = (name: string) =>
    JSON.parse(text.match(new RegExp(`^${name} (\\[.*\\])$`, 'm'))?.[1] ?? 'null') as unknown;
  return {
    text,
    entrypoint: instruction('ENTRYPOINT'),
    cmd: instruction('CMD'),
    version: text.match(/^ARG VERSION=(\S+)$/m)?.[1],
  };
}

describe('the image (OCI layout from scripts/image.sh, no daemon)', { skip }, () => {
  let work = '';
  let rootfs = '';
  let volume = '';
  const entrypoint = () => imageConfig(`${VERSION}-amd64`).config.Entrypoint ?? [];

  before(() => {
    execFileSync(
      'bash',
      [join(ROOT, 'scripts', 'image.sh'), 'amd64', ...(arm64 ? ['arm64'] : [])],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 600_000,
      },
    );
    work = tempDir('kubexit-image-');
    rootfs = unpack(`${VERSION}-amd64`, work);
    volume = join(work, 'volume');
    mkdirSync(volume);
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('config: the entrypoint, command and labels of the Dockerfile, linux/amd64', () => {
    const image = imageConfig(`${VERSION}-amd64`);
    const docker = dockerfile();
    assert.equal(image.architecture, 'amd64');
    assert.equal(image.os, 'linux');
    assert.deepEqual(image.config.Entrypoint, ['/usr/local/bin/kubexit']);
    assert.deepEqual(image.config.Entrypoint, docker.entrypoint);
    assert.deepEqual(image.config.Cmd, docker.cmd);
    assert.equal(image.rootfs.diff_ids.length, 1, 'one layer, as the final stage has');
    assert.equal(docker.version, VERSION, 'the Dockerfile ARG VERSION is the package version');
    const labels = image.config.Labels ?? {};
    assert.equal(labels['org.opencontainers.image.version'], VERSION);
    assert.equal(labels['org.opencontainers.image.title'], 'kubexit');
    for (const [key, value] of Object.entries(labels)) {
      const inDockerfile = key === 'org.opencontainers.image.version' ? '${VERSION}' : value;
      assert.ok(docker.text.includes(`${key}=${inDockerfile}`), `${key} not in the Dockerfile`);
    }
  });

  it('root: the executable as built, its loader and libraries, nothing at /kubexit', () => {
    assert.deepEqual(files(rootfs), [
      'lib/ld-linux-x86-64.so.2',
      'lib/libc.so.6',
      'lib/libdl.so.2',
      'lib/libm.so.6',
      'lib/libpthread.so.0',
      'lib64/ld-linux-x86-64.so.2',
      'usr/local/bin/kubexit',
    ]);
    assert.ok(
      readFileSync(join(rootfs, 'usr/local/bin/kubexit')).equals(
        readFileSync(executable('linux-x64')),
      ),
    );
    assert.equal(existsSync(join(rootfs, MOUNT_PATH.slice(1))), false);
  });

  it('the entrypoint runs in the image root: --version', () => {
    mkdirSync(join(rootfs, 'proc'), { recursive: true });
    const unmount = mount(['-t', 'proc', 'proc'], join(rootfs, 'proc'));
    try {
      const r = chroot(rootfs, [...entrypoint(), '--version']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `kubexit ${VERSION}\n`);
    } finally {
      unmount();
    }
  });

  it("the examples' init container: the entrypoint installs into the volume", () => {
    const examples = ['client-server-job', 'cloudsql-proxy-job'].map(initContainerOf);
    for (const { init, volume: at, apps } of examples) {
      assert.equal(init.image, `kubexit:${VERSION}`);
      assert.equal(init.command, undefined, 'the image entrypoint runs');
      assert.ok(apps.length > 0 && apps.every((p) => p === MOUNT_PATH), 'apps mount /kubexit');
      assert.deepEqual([init.args, at], [examples[0]?.init.args, examples[0]?.volume]);
    }
    const { init, volume: at } = examples[0] as (typeof examples)[0];
    assert.ok(at !== undefined && init.args !== undefined);

    const mounts = [mount(['-t', 'proc', 'proc'], join(rootfs, 'proc'))];
    try {
      mkdirSync(join(rootfs, at), { recursive: true });
      mounts.push(mount(['--bind', volume], join(rootfs, at)));
      const r = chroot(rootfs, [...entrypoint(), ...init.args]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      for (const unmount of mounts.reverse()) unmount();
    }
    // The same bytes as an install from the executable outside the image, elsewhere.
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(elsewhere);
    const r = run(executable('linux-x64'), ['install', elsewhere]);
    assert.equal(r.code, 0, r.stderr);
    sameFiles(volume, elsewhere);
  });

  it('the volume at /kubexit runs /kubexit/kubexit <child> in a root with nothing else', () => {
    // The support's empty root, copied: only its busybox and the mount points, nothing shared.
    const empty = join(work, 'empty');
    for (const dir of ['bin', 'proc', 'graveyard', MOUNT_PATH.slice(1)]) {
      mkdirSync(join(empty, dir), { recursive: true });
    }
    cpSync(join(rootPath('empty'), 'bin', 'busybox'), join(empty, 'bin', 'busybox'));
    const mounts = [mount(['-t', 'proc', 'proc'], join(empty, 'proc'))];
    try {
      mounts.push(mount(['--bind', volume], join(empty, MOUNT_PATH.slice(1))));
      const ran = chroot(
        empty,
        [`${MOUNT_PATH}/kubexit`, '/bin/busybox', 'sh', '-c', 'echo side-loaded; exit 7'],
        { KUBEXIT_NAME: 'app', KUBEXIT_GRAVEYARD: '/graveyard' },
      );
      assert.equal(ran.stdout, 'side-loaded\n', ran.stderr);
      assert.equal(ran.code, 7, ran.stderr);
    } finally {
      for (const unmount of mounts.reverse()) unmount();
    }
    const tombstone = readTombstone(join(empty, 'graveyard', 'app'));
    assert.equal(tombstone?.match(TOMBSTONE)?.[1], '7', tombstone);
  });

  it('arm64: config, --version, install and a child under qemu-aarch64', { skip: noArm }, () => {
    const image = imageConfig(`${VERSION}-arm64`);
    assert.equal(image.architecture, 'arm64');
    assert.deepEqual(image.config.Entrypoint, dockerfile().entrypoint);
    const armRoot = unpack(`${VERSION}-arm64`, work);
    assert.deepEqual(files(armRoot), [
      'lib/ld-linux-aarch64.so.1',
      'lib/libc.so.6',
      'lib/libdl.so.2',
      'lib/libm.so.6',
      'lib/libpthread.so.0',
      'usr/local/bin/kubexit',
    ]);
    // The image root is the whole sysroot: nothing from the host's or another arm64 root.
    const emulate = (sysroot: string, args: string[], env: Record<string, string> = {}) =>
      run(qemu as string, ['-L', sysroot, ...args], env);
    const exe = join(armRoot, 'usr/local/bin/kubexit');
    const version = emulate(armRoot, [exe, '--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `kubexit ${VERSION}\n`);

    const pod = join(work, 'arm64-pod');
    const armVolume = join(pod, MOUNT_PATH.slice(1));
    mkdirSync(armVolume, { recursive: true });
    const installed = emulate(armRoot, [exe, 'install', armVolume]);
    assert.equal(installed.code, 0, installed.stderr);
    const graveyard = join(work, 'arm64-graveyard');
    mkdirSync(graveyard);
    // A static x64 busybox outside the sysroot: the kernel runs it natively.
    const busybox = join(rootPath('empty'), 'bin', 'busybox');
    const ran = emulate(pod, [join(armVolume, 'kubexit'), busybox, 'sh', '-c', 'exit 5'], {
      KUBEXIT_NAME: 'arm',
      KUBEXIT_GRAVEYARD: graveyard,
    });
    assert.equal(ran.code, 5, ran.stderr);
    assert.equal(readTombstone(join(graveyard, 'arm'))?.match(TOMBSTONE)?.[1], '5');
  });
});
