// The image, built without a container engine (scripts/image.sh → the OCI layout dist/image) and
// unpacked as a container runtime would (umoci for the gzip tags, GNU tar + zstd for the zstd
// ones, which umoci 0.4 cannot read): its config matches the Dockerfile, its layers are what the
// manifests say, its entrypoint runs in its own root (chroot, /proc mounted), the init container
// of the examples installs kubexit into a volume, and that volume then runs a child in a root
// with nothing else; so does the image's /kubexit folder mounted as an image volume.
// arm64 too when qemu-aarch64 is here, with the image's root as the emulator's sysroot.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
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
const ZSTD = ['/usr/bin/zstd', '/usr/local/bin/zstd'].find(existsSync);
const qemu = qemuAarch64();
const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD_LAYER = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** Issue 8's bound for the layer that carries the executable (the default, zstd, tag). */
const MAX_LAYER_BYTES = 45_000_000;
/** What the zstd layers may ask of a decoder: zstd's default limit, and containerd's is larger. */
const MAX_WINDOW_BYTES = 128 * 1024 * 1024;

const skip = requires(
  'image',
  () => missing(process.arch !== 'x64' && `the test roots are x64, this is ${process.arch}`),
  () => missing(UMOCI === undefined && 'no umoci (Debian: umoci)'),
  () => missing(ZSTD === undefined && 'no zstd (Debian: zstd)'),
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
  config: {
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    Labels?: Record<string, string>;
  };
  rootfs: { diff_ids: string[] };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

function blobPath(digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return join(LAYOUT, 'blobs', algorithm, hex);
}

function blob(digest: string): unknown {
  return JSON.parse(readFileSync(blobPath(digest), 'utf8'));
}

/** The tags of the OCI layout, in index order. */
function tags(): string[] {
  return indexEntries().map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '');
}

function indexEntries() {
  return (
    JSON.parse(readFileSync(join(LAYOUT, 'index.json'), 'utf8')) as {
      manifests: (Descriptor & { annotations?: Record<string, string> })[];
    }
  ).manifests;
}

/** The manifest and config of the image tagged `tag` in the OCI layout. */
function image(tag: string) {
  const entry = indexEntries().find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag,
  );
  assert.ok(entry, `no ${tag} in ${LAYOUT}/index.json`);
  const manifest = blob(entry.digest) as { config: Descriptor; layers: Descriptor[] };
  return { entry, manifest, config: blob(manifest.config.digest) as ImageConfig };
}

function imageConfig(tag: string): ImageConfig {
  return image(tag).config;
}

function sha256File(path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

/** sha256 of a layer blob once decompressed: what its diff_id must be. */
function diffId(layer: Descriptor): string {
  const tool = layer.mediaType === ZSTD_LAYER ? 'zstd' : 'gzip';
  const out = execFileSync('sh', [
    '-c',
    `${tool} -dc "$1" | sha256sum`,
    'sh',
    blobPath(layer.digest),
  ]);
  return `sha256:${out.toString().split(' ')[0]}`;
}

/**
 * A fresh bundle's rootfs for `tag`: `umoci unpack` for gzip layers; for zstd ones, GNU tar with
 * the zstd CLI and its default memory limit, as root, owners kept (umoci 0.4 reads no zstd).
 */
function unpack(tag: string, into: string): string {
  const bundle = join(into, `bundle-${tag}`);
  const [layer] = image(tag).manifest.layers;
  if (layer?.mediaType === ZSTD_LAYER) {
    const rootfs = join(bundle, 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    execFileSync(
      'tar',
      ['--zstd', '-xf', blobPath(layer.digest), '-C', rootfs, '--numeric-owner'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    return rootfs;
  }
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
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
}

interface PodSpec {
  initContainers?: Container[];
  containers: Container[];
  volumes: { name: string; image?: { reference: string }; emptyDir?: object }[];
}

function podSpecOf(example: string): PodSpec {
  const job = parse(readFileSync(join(ROOT, 'examples', example, 'job.yaml'), 'utf8')) as {
    spec: { template: { spec: PodSpec } };
  };
  return job.spec.template.spec;
}

/** The kubexit init container of an example, and where its app containers mount the volume. */
function initContainerOf(example: string) {
  const pod = podSpecOf(example);
  const init = pod.initContainers?.find((c) => c.name === 'kubexit');
  assert.ok(init, `${example}: no kubexit init container`);
  const volume = init.volumeMounts?.find((m) => m.name === 'kubexit')?.mountPath;
  const apps = pod.containers.map(
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
    env: [...text.matchAll(/^ENV (\S+=\S+)$/gm)].map((m) => m[1]),
    version: text.match(/^ARG VERSION=(\S+)$/m)?.[1],
  };
}

/**
 * The paths in `value` that the Kubernetes API type `type` has no field for (with
 * @kubernetes/client-node's models: their attribute maps are the API's fields), and values of the
 * wrong kind.
 */
function unknownFields(value: unknown, type: string, at: string): string[] {
  const models = k8s as unknown as Record<
    string,
    { getAttributeTypeMap?: () => { baseName: string; type: string }[] } | undefined
  >;
  const array = type.match(/^Array<(.+)>$/)?.[1];
  if (array !== undefined) {
    if (!Array.isArray(value)) return [`${at}: not a list`];
    return value.flatMap((v, i) => unknownFields(v, array, `${at}[${i}]`));
  }
  if (type === 'string' || type === 'number' || type === 'boolean') {
    return typeof value === type ? [] : [`${at}: not a ${type}`];
  }
  if (type === 'IntOrString') {
    return ['string', 'number'].includes(typeof value) ? [] : [`${at}: not an int or string`];
  }
  if (type.startsWith('{ [key: string]: string')) {
    const ok = typeof value === 'object' && value !== null;
    return ok && Object.values(value).every((v) => typeof v === 'string') ? [] : [`${at}: map`];
  }
  const model = models[type]?.getAttributeTypeMap?.();
  if (model === undefined) return [`${at}: no model ${type}`];
  if (typeof value !== 'object' || value === null) return [`${at}: not an object`];
  return Object.entries(value).flatMap(([key, v]) => {
    const field = model.find((a) => a.baseName === key);
    return field ? unknownFields(v, field.type, `${at}.${key}`) : [`${at}.${key}: no such field`];
  });
}

const LIBS = ['libc.so.6', 'libdl.so.2', 'libm.so.6', 'libpthread.so.0'];
/**
 * Where the Go kubexit's images had their tools and executable (upstream: /bin/kubexit and the
 * base image's /bin/cp and /bin/sh; the ispringtech fork: /app/bin/kubexit): here, each is the
 * executable (hard links), so that Go-era init containers run unchanged.
 */
const GO_PATHS = ['app/bin/kubexit', 'bin/cp', 'bin/kubexit', 'bin/sh'];
/** The /kubexit folder: what `kubexit install` writes, for an image volume. */
const installedFolder = (loader: string) => [
  'kubexit/kubexit',
  'kubexit/ld',
  ...[loader, ...LIBS].sort().map((l) => `kubexit/lib/${l}`),
];

describe('the image (OCI layout from scripts/image.sh, no daemon)', { skip }, () => {
  let work = '';
  let rootfs = '';
  let gzipRootfs = '';
  let volume = '';
  const arches = ['amd64', ...(arm64 ? ['arm64'] : [])];
  const entrypoint = () => imageConfig(`${VERSION}-amd64`).config.Entrypoint ?? [];
  /** The image's PATH, as a runtime gives it to the container. */
  const imagePath = () =>
    imageConfig(`${VERSION}-amd64`)
      .config.Env?.find((e) => e.startsWith('PATH='))
      ?.slice('PATH='.length) ?? '';

  before(() => {
    execFileSync('bash', [join(ROOT, 'scripts', 'image.sh'), ...arches], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 1_800_000,
    });
    work = tempDir('kubexit-image-');
    rootfs = unpack(`${VERSION}-amd64`, work);
    gzipRootfs = unpack(`${VERSION}-amd64-gzip`, work);
    volume = join(work, 'volume');
    mkdirSync(volume);
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('tags: <version>-<arch> with a zstd layer, <version>-<arch>-gzip with a gzip one', () => {
    assert.deepEqual(
      tags().sort(),
      arches.flatMap((a) => [`${VERSION}-${a}`, `${VERSION}-${a}-gzip`]).sort(),
    );
    for (const arch of arches) {
      const zstd = image(`${VERSION}-${arch}`);
      const gzip = image(`${VERSION}-${arch}-gzip`);
      assert.deepEqual(
        zstd.manifest.layers.map((l) => l.mediaType),
        [ZSTD_LAYER],
      );
      assert.deepEqual(
        gzip.manifest.layers.map((l) => l.mediaType),
        [GZIP_LAYER],
      );
      // The same image config; only the layer (and so its diff_id) differs.
      const withoutLayers = (c: ImageConfig) => ({ ...c, rootfs: { ...c.rootfs, diff_ids: [] } });
      assert.deepEqual(withoutLayers(zstd.config), withoutLayers(gzip.config));
      assert.equal(zstd.config.architecture, arch);
    }
  });

  it('blobs: every digest and size as the descriptors say, every diff_id the sha256 of the tar', () => {
    for (const tag of tags()) {
      const { entry, manifest, config } = image(tag);
      for (const d of [entry, manifest.config, ...manifest.layers]) {
        assert.equal(sha256File(blobPath(d.digest)), d.digest, `${tag}: ${d.mediaType}`);
        assert.equal(statSync(blobPath(d.digest)).size, d.size, `${tag}: ${d.mediaType}`);
      }
      assert.deepEqual(config.rootfs.diff_ids, manifest.layers.map(diffId), tag);
    }
  });

  it(`the zstd layer, which carries the executable, is at most ${MAX_LAYER_BYTES / 1e6} MB`, () => {
    for (const arch of arches) {
      const [layer] = image(`${VERSION}-${arch}`).manifest.layers;
      assert.ok(layer);
      assert.ok(layer.size <= MAX_LAYER_BYTES, `${arch}: ${layer.size} bytes`);
      // A decoder with zstd's default memory limit (128 MiB) reads it: the frame says its window.
      const header = execFileSync(ZSTD as string, ['-lv', blobPath(layer.digest)], {
        stdio: ['ignore', 'pipe', 'ignore'],
      }).toString();
      const window = header.match(/Window Size: .*\((\d+) B\)/)?.[1];
      assert.ok(window !== undefined, header);
      assert.ok(Number(window) <= MAX_WINDOW_BYTES, `${arch}: window ${window}`);
    }
  });

  it('the zstd root is the gzip root and the /kubexit folder, same bytes, same modes', () => {
    const gzipFiles = files(gzipRootfs);
    const zstdFiles = files(rootfs);
    assert.deepEqual(
      zstdFiles.filter((f) => !f.startsWith('kubexit/')),
      gzipFiles,
    );
    assert.deepEqual(
      zstdFiles.filter((f) => f.startsWith('kubexit/')),
      installedFolder('ld-linux-x86-64.so.2'),
    );
    for (const f of gzipFiles) {
      const [a, b] = [join(rootfs, f), join(gzipRootfs, f)];
      assert.ok(readFileSync(a).equals(readFileSync(b)), `${f} differs`);
      const [sa, sb] = [statSync(a), statSync(b)];
      assert.deepEqual([sa.mode, sa.uid, sa.gid], [sb.mode, sb.uid, sb.gid], f);
    }
  });

  it('config: the entrypoint, command and labels of the Dockerfile, linux/amd64', () => {
    const config = imageConfig(`${VERSION}-amd64`);
    const docker = dockerfile();
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.os, 'linux');
    assert.deepEqual(config.config.Entrypoint, ['/usr/local/bin/kubexit']);
    assert.deepEqual(config.config.Entrypoint, docker.entrypoint);
    assert.deepEqual(config.config.Cmd, docker.cmd);
    // A command without a "/" (the Go-era `cp`) is looked up on this PATH by the runtime.
    assert.deepEqual(config.config.Env, docker.env);
    assert.ok(imagePath().split(':').includes('/bin'), imagePath());
    assert.equal(config.rootfs.diff_ids.length, 1, 'one layer, as the final stage has');
    assert.equal(docker.version, VERSION, 'the Dockerfile ARG VERSION is the package version');
    const labels = config.config.Labels ?? {};
    assert.equal(labels['org.opencontainers.image.version'], VERSION);
    assert.equal(labels['org.opencontainers.image.title'], 'kubexit');
    for (const [key, value] of Object.entries(labels)) {
      const inDockerfile = key === 'org.opencontainers.image.version' ? '${VERSION}' : value;
      assert.ok(docker.text.includes(`${key}=${inDockerfile}`), `${key} not in the Dockerfile`);
    }
  });

  it('root: the executable as built, its loader and libraries, the /kubexit folder', () => {
    assert.deepEqual(files(gzipRootfs), [
      ...GO_PATHS,
      'lib/ld-linux-x86-64.so.2',
      ...LIBS.map((l) => `lib/${l}`),
      'lib64/ld-linux-x86-64.so.2',
      'usr/local/bin/kubexit',
    ]);
    assert.ok(
      readFileSync(join(rootfs, 'usr/local/bin/kubexit')).equals(
        readFileSync(executable('linux-x64')),
      ),
    );
    assert.equal(existsSync(join(gzipRootfs, MOUNT_PATH.slice(1))), false);
    // One inode per library: the folder's loader and libraries are /lib's files.
    for (const f of ['ld', 'lib/ld-linux-x86-64.so.2', ...LIBS.map((l) => `lib/${l}`)]) {
      const lib = `lib/${f === 'ld' ? 'ld-linux-x86-64.so.2' : f.slice(4)}`;
      assert.equal(statSync(join(rootfs, 'kubexit', f)).ino, statSync(join(rootfs, lib)).ino, f);
    }
  });

  it('the entrypoint runs in the image root: --version, zstd and gzip', () => {
    for (const root of [rootfs, gzipRootfs]) {
      mkdirSync(join(root, 'proc'), { recursive: true });
      const unmount = mount(['-t', 'proc', 'proc'], join(root, 'proc'));
      try {
        const r = chroot(root, [...entrypoint(), '--version']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `kubexit ${VERSION}\n`);
      } finally {
        unmount();
      }
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

  /** `folder` at /kubexit in a root with only busybox: /kubexit/kubexit <child> exits 7. */
  function runsAlone(name: string, folder: string, bindOptions: string[]): void {
    // The support's empty root, copied: only its busybox and the mount points, nothing shared.
    const empty = join(work, `empty-${name}`);
    for (const dir of ['bin', 'proc', 'graveyard', MOUNT_PATH.slice(1)]) {
      mkdirSync(join(empty, dir), { recursive: true });
    }
    cpSync(join(rootPath('empty'), 'bin', 'busybox'), join(empty, 'bin', 'busybox'));
    const mounts = [mount(['-t', 'proc', 'proc'], join(empty, 'proc'))];
    try {
      mounts.push(mount(['--bind', ...bindOptions, folder], join(empty, MOUNT_PATH.slice(1))));
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
  }

  it('the volume at /kubexit runs /kubexit/kubexit <child> in a root with nothing else', () => {
    runsAlone('init', volume, []);
  });

  it("image volume: the image's /kubexit folder is what the init container installs", () => {
    assert.ok(files(volume).length > 0, 'the init container test ran first');
    sameFiles(join(rootfs, 'kubexit'), volume);
  });

  it("image volume: the image's /kubexit folder, read-only at /kubexit, runs a child alone", () => {
    runsAlone('image-volume', join(rootfs, 'kubexit'), ['-o', 'ro']);
  });

  it('examples/image-volume: client-server-job with the image as a volume, no init container', () => {
    const pod = podSpecOf('image-volume');
    const original = podSpecOf('client-server-job');
    assert.equal(pod.initContainers, undefined);
    const kubexit = pod.volumes.find((v) => v.name === 'kubexit');
    assert.deepEqual(kubexit?.image?.reference, `kubexit:${VERSION}`);
    assert.ok(existsSync(join(rootfs, 'kubexit', 'kubexit')), 'the subPath is in the image');
    for (const c of pod.containers) {
      const at = c.volumeMounts?.find((m) => m.name === 'kubexit');
      assert.deepEqual(at, { name: 'kubexit', mountPath: MOUNT_PATH, subPath: 'kubexit' }, c.name);
      assert.equal(c.command?.[0], `${MOUNT_PATH}/kubexit`, c.name);
    }
    // Apart from the subPath, the containers are client-server-job's, and so are the volumes
    // apart from the kubexit volume's source.
    const noSubPath = (cs: Container[]) =>
      cs.map((c) => ({
        ...c,
        volumeMounts: c.volumeMounts?.map(({ subPath: _, ...m }) => m),
      }));
    assert.deepEqual(noSubPath(pod.containers), noSubPath(original.containers));
    const names = (p: PodSpec) => p.volumes.map((v) => v.name);
    assert.deepEqual(names(pod), names(original));
  });

  it('examples/image-volume: every field is in the Kubernetes API (client-node models)', () => {
    // The test bed's kube-apiserver (v1.20) predates volumes[].image (v1.31), so the server-side
    // dry run of k8s-examples cannot check this example: the API's own models here do.
    for (const file of readdirSync(join(ROOT, 'examples', 'image-volume'))) {
      if (!file.endsWith('.yaml') || file === 'kustomization.yaml') continue;
      const doc = parse(readFileSync(join(ROOT, 'examples', 'image-volume', file), 'utf8')) as {
        kind: string;
      };
      assert.deepEqual(unknownFields(doc, `V1${doc.kind}`, file), [], file);
    }
  });

  it('the Go-era paths are the executable itself: hard links, no bytes added to the layers', () => {
    for (const root of [rootfs, gzipRootfs]) {
      const exe = statSync(join(root, 'usr/local/bin/kubexit'));
      for (const path of GO_PATHS) {
        const s = statSync(join(root, path));
        assert.deepEqual([s.ino, s.mode], [exe.ino, exe.mode], path);
      }
    }
    // In each layer the five names are one regular file and four hard-link entries to it.
    const names = [...GO_PATHS, 'usr/local/bin/kubexit'];
    for (const tag of [`${VERSION}-amd64`, `${VERSION}-amd64-gzip`]) {
      const [layer] = image(tag).manifest.layers;
      assert.ok(layer);
      const z = layer.mediaType === ZSTD_LAYER ? '--zstd' : '--gzip';
      const listing = execFileSync('tar', [z, '-tvf', blobPath(layer.digest)]).toString();
      const entries = listing
        .split('\n')
        .map((l) => l.match(/^(\S)\S* +\S+ +\d+ +\S+ +\S+ +(\S+)(?: link to (\S+))?$/))
        .filter((m) => m !== null && names.includes(m[2] as string)) as RegExpMatchArray[];
      const regular = entries.filter((m) => m[1] === '-').map((m) => m[2]);
      assert.equal(regular.length, 1, `${tag}: ${listing}`);
      const links = entries.filter((m) => m[1] === 'h');
      assert.equal(links.length, names.length - 1, tag);
      for (const m of links) assert.equal(m[3], regular[0], `${tag}: ${m[2]}`);
    }
  });

  /** `command` run as an init container would in the image: `into` at /kubexit, the image's PATH. */
  function initContainer(command: string[], into: string, env: Record<string, string> = {}) {
    mkdirSync(join(rootfs, 'proc'), { recursive: true });
    const mounts = [mount(['-t', 'proc', 'proc'], join(rootfs, 'proc'))];
    try {
      mounts.push(mount(['--bind', into], join(rootfs, MOUNT_PATH.slice(1))));
      return chroot(rootfs, command, { PATH: imagePath(), ...env });
    } finally {
      for (const unmount of mounts.reverse()) unmount();
    }
  }

  // The Go kubexit's init containers, as its READMEs and examples wrote them (and two variants).
  const goInits: [string, string[]][] = [
    ['ispringtech fork', ['cp', '/app/bin/kubexit', '/kubexit/kubexit']],
    ['karlkfi/kubexit', ['cp', '/bin/kubexit', '/kubexit/kubexit']],
    ['into the folder', ['/bin/cp', '/bin/kubexit', '/kubexit/']],
    ['through sh -c', ['sh', '-c', 'cp /app/bin/kubexit /kubexit/kubexit']],
  ];
  for (const [i, [source, command]] of goInits.entries()) {
    it(`Go-era init container (${source}): ${command.join(' ')} installs a volume that runs a child alone`, () => {
      const into = join(work, `go-init-${i}`);
      mkdirSync(into);
      const r = initContainer(command, into);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^installed \/kubexit\/kubexit with /);
      sameFiles(join(rootfs, 'kubexit'), into);
      runsAlone(`go-init-${i}`, into, []);
    });
  }

  it('Go-era init container with the cp as args: (no command): the entrypoint installs', () => {
    const into = join(work, 'go-init-args');
    mkdirSync(into);
    const r = initContainer(
      ['/usr/local/bin/kubexit', 'cp', '/app/bin/kubexit', '/kubexit/kubexit'],
      into,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^installed \/kubexit\/kubexit with /);
    sameFiles(join(rootfs, 'kubexit'), into);
  });

  it("the image's cp and sh refuse anything else: exit 2, one JSON line saying what to write", () => {
    const refused: [string[], RegExp][] = [
      [['cp', '/etc/passwd', '/kubexit/kubexit'], /\/etc\/passwd is not kubexit/],
      [['cp', '-p', '/bin/kubexit', '/kubexit/kubexit'], /option -p/],
      [['cp', '/bin/kubexit', '/kubexit/kubexit-copy'], /kubexit-copy/],
      [['cp', '/bin/kubexit'], /2 operands/],
      [['cp'], /2 operands/],
      [['sh', '-c', 'cp /bin/kubexit /kubexit/kubexit && chmod +x /kubexit/kubexit'], /no shell/],
      [['sh', '-c', 'cp "/bin/kubexit /kubexit/kubexit'], /unclosed " quote/],
      [['sh', '/install.sh'], /sh -c/],
      [['sh'], /sh -c/],
    ];
    const into = join(work, 'refused');
    mkdirSync(into);
    for (const [command, problem] of refused) {
      const r = initContainer(command, into);
      const what = `${command.join(' ')}: ${r.stderr}`;
      assert.equal(r.code, 2, what);
      assert.equal(r.stdout, '', what);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, what);
      const line = JSON.parse(lines[0] as string) as Record<string, unknown>;
      assert.equal(line.level, 'error', what);
      assert.equal(line.exit_code, 2, what);
      assert.match(String(line.message), /kubexit's image/, what);
      assert.deepEqual(line.command, command, what);
      assert.match(String(line.problem), problem, what);
      assert.match(String(line.expected), /args: \[install, \/kubexit\]/, what);
      assert.deepEqual(files(into), [], `${what}: nothing installed`);
    }
  });

  it('called by a kubexit name, the executable supervises a command named cp: the name it runs as decides', () => {
    const into = join(work, 'supervised-cp');
    mkdirSync(into);
    // The fork's path for kubexit; the child is the image's own cp, which installs.
    const r = initContainer(['/app/bin/kubexit', 'cp', '/bin/kubexit', '/kubexit/kubexit'], into, {
      KUBEXIT_NAME: 'init',
      KUBEXIT_GRAVEYARD: '/graveyard',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /"message":"kubexit initialized"/);
    assert.equal(
      readTombstone(join(rootfs, 'graveyard', 'init'))?.match(TOMBSTONE)?.[1],
      '0',
      r.stderr,
    );
    sameFiles(join(rootfs, 'kubexit'), into);
  });

  it(
    'arm64: config, --version, install, the /kubexit folder and a child under qemu-aarch64',
    {
      skip: noArm,
    },
    () => {
      const config = imageConfig(`${VERSION}-arm64`);
      assert.equal(config.architecture, 'arm64');
      assert.deepEqual(config.config.Entrypoint, dockerfile().entrypoint);
      const armRoot = unpack(`${VERSION}-arm64`, work);
      assert.deepEqual(files(armRoot), [
        ...GO_PATHS,
        ...installedFolder('ld-linux-aarch64.so.1'),
        'lib/ld-linux-aarch64.so.1',
        ...LIBS.map((l) => `lib/${l}`),
        'usr/local/bin/kubexit',
      ]);
      assert.deepEqual(
        files(unpack(`${VERSION}-arm64-gzip`, work)),
        files(armRoot).filter((f) => !f.startsWith('kubexit/')),
      );
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
      sameFiles(join(armRoot, 'kubexit'), armVolume);
      // The Go-era init command, through the image's /bin/cp, installs the same folder.
      const goVolume = join(work, 'arm64-go-init');
      mkdirSync(goVolume);
      const copied = emulate(armRoot, [
        join(armRoot, 'bin/cp'),
        '/app/bin/kubexit',
        join(goVolume, 'kubexit'),
      ]);
      assert.equal(copied.code, 0, copied.stderr);
      sameFiles(armVolume, goVolume);
      // A static x64 busybox outside the sysroot: the kernel runs it natively.
      const busybox = join(rootPath('empty'), 'bin', 'busybox');
      // The installed copy, then the image's own folder alone in another pod (an image volume).
      const imagePod = join(work, 'arm64-image-volume');
      cpSync(join(armRoot, 'kubexit'), join(imagePod, MOUNT_PATH.slice(1)), { recursive: true });
      for (const [name, root] of [
        ['arm', pod],
        ['arm-image-volume', imagePod],
      ] as const) {
        const graveyard = join(work, `${name}-graveyard`);
        mkdirSync(graveyard);
        const kubexit = join(root, MOUNT_PATH.slice(1), 'kubexit');
        const ran = emulate(root, [kubexit, busybox, 'sh', '-c', 'exit 5'], {
          KUBEXIT_NAME: name,
          KUBEXIT_GRAVEYARD: graveyard,
        });
        assert.equal(ran.code, 5, ran.stderr);
        assert.equal(readTombstone(join(graveyard, name))?.match(TOMBSTONE)?.[1], '5');
      }
    },
  );
});
