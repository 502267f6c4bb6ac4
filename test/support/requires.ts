// The optional parts of the test suite: each needs something a machine may lack (a control
// plane, root, Debian's tools, an emulator). `npm test` sets them up first (setup.ts); a test file
// then asks requires(part, ...checks) and gets one of three answers, decided here and nowhere
// else: run; skip, because KUBEXIT_TEST_SKIP names the part (or a part it builds on); or a loud
// failure naming what is missing and the exact opt-out. A green run has therefore tested
// everything that was not explicitly opted out of.

export interface Part {
  /** What its tests cover. */
  covers: string;
  /** What it needs from the machine. */
  needs: string;
  /** Parts it builds on: skipping one of them skips this one too. */
  after: readonly string[];
  /** Needs uid 0 (chroot, mount, namespaces, apt). */
  root: boolean;
  /** Commands it needs, each with the Debian package that provides it. */
  tools: readonly Tool[];
}

export interface Tool {
  /** A command looked up on PATH and in the sbin folders, or a test of its own. */
  command: string;
  present?: () => boolean;
  /** The Debian package that provides it. */
  apt: string;
}

// One line per part; a new part (e.g. a real kubelet node) is one more line here, plus its setup
// step in setup.ts if it has something to set up.
export const PARTS = {
  exe: part(
    'the packaged executable: its own tests, and every e2e test run again against it',
    'a Bun executable for this platform (npm run package builds it)',
  ),
  k8s: part(
    'birth dependencies and the examples against a real kube-apiserver + etcd on 127.0.0.1',
    'scripts/kube-local.sh up: root and apt (builds kube-apiserver from Debian source once) or KUBEBUILDER_ASSETS',
    // openssl also makes the webhook tests' certificates.
    { tools: [{ command: 'openssl', apt: 'openssl' }] },
  ),
  pod: part(
    'examples/client-server-job as a simulated pod: namespaces, PID 1, init container, a test kubelet',
    'root, PID and mount namespaces (unshare), a static busybox',
    {
      after: ['k8s', 'exe'],
      root: true,
      tools: [
        { command: 'unshare', apt: 'util-linux' },
        { command: 'busybox', apt: 'busybox-static' },
      ],
    },
  ),
  roots: part(
    'the executables inside minimal roots (chroot): empty, glibc-only, musl-only, Debian minbase',
    'root, Debian (apt-get download, debootstrap) and its mirror',
    {
      after: ['exe'],
      root: true,
      tools: [
        { command: 'debootstrap', apt: 'debootstrap' },
        { command: 'apt-get', apt: 'apt' },
        { command: 'dpkg-deb', apt: 'dpkg' },
        { command: 'file', apt: 'file' },
        { command: 'flock', apt: 'util-linux' },
        { command: 'chroot', apt: 'coreutils' },
        { command: 'mount', apt: 'mount' },
      ],
    },
  ),
  arm64: part(
    'the arm64 executable under qemu-user with an arm64 Debian root as sysroot',
    'qemu-aarch64 and an arm64 root (debootstrap --foreign)',
    { after: ['roots'], tools: [{ command: 'qemu-aarch64-static', apt: 'qemu-user-static' }] },
  ),
  node: part(
    'the examples as real Jobs on a real single-node cluster: kubelet + containerd, controller-manager, scheduler, kube-proxy',
    'root, scripts/kube-node.sh up: containerd, runc, the CNI plugins and iptables from apt; kubelet & co built once from Debian source',
    {
      after: ['k8s'],
      root: true,
      tools: [
        { command: 'containerd', apt: 'containerd' },
        { command: 'runc', apt: 'runc' },
        { command: 'iptables', apt: 'iptables' },
        { command: 'conntrack', apt: 'conntrack' },
        { command: 'umoci', apt: 'umoci' },
        { command: 'busybox', apt: 'busybox-static' },
      ],
    },
  ),
  image: part(
    'the OCI image from scripts/image.sh, unpacked with umoci and run in its own root',
    'umoci and zstd, an x64 machine',
    {
      after: ['roots'],
      tools: [
        { command: 'umoci', apt: 'umoci' },
        { command: 'zstd', apt: 'zstd' },
      ],
    },
  ),
} satisfies Record<string, Part>;

export type PartName = keyof typeof PARTS;
export const PART_NAMES = Object.keys(PARTS) as PartName[];
const isPart = (name: string): name is PartName => (PART_NAMES as string[]).includes(name);
for (const name of PART_NAMES) {
  const unknown = PARTS[name].after.filter((p) => !isPart(p));
  if (unknown.length > 0) throw new Error(`part ${name} builds on unknown ${unknown.join(', ')}`);
}

function part(covers: string, needs: string, more: Partial<Part> = {}): Part {
  return { covers, needs, after: [], root: false, tools: [], ...more };
}

/** Every part that builds on `name`, directly or not. */
export function dependents(name: PartName): PartName[] {
  const direct = PART_NAMES.filter((p) => PARTS[p].after.includes(name));
  return [...new Set(direct.flatMap((p) => [p, ...dependents(p)]))];
}

/** The parts KUBEXIT_TEST_SKIP names ("all": every part); an unknown name is an error. */
export function optedOut(value = process.env.KUBEXIT_TEST_SKIP ?? ''): Set<PartName> {
  const names = value
    .split(/[\s,]+/)
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== '');
  if (names.includes('all')) return new Set(PART_NAMES);
  const unknown = names.filter((n) => !isPart(n));
  if (unknown.length > 0) {
    throw new Error(
      `KUBEXIT_TEST_SKIP=${value}: unknown part ${unknown.join(', ')}; the parts are ${PART_NAMES.join(', ')} (or all)`,
    );
  }
  return new Set(names as PartName[]);
}

/** Why `name` is skipped (it or a part it builds on is opted out), or false. */
export function skipReason(name: PartName, out = optedOut()): string | false {
  if (out.has(name))
    return `KUBEXIT_TEST_SKIP=${process.env.KUBEXIT_TEST_SKIP}: ${PARTS[name].covers}`;
  for (const base of PARTS[name].after.filter(isPart)) {
    if (skipReason(base, out)) return `needs ${base}, which KUBEXIT_TEST_SKIP skips`;
  }
  return false;
}

/** The opt-out that skips `names` (each with everything built on it). */
export function optOutFor(names: PartName[]): string {
  const all = new Set([...optedOut(), ...names]);
  return `KUBEXIT_TEST_SKIP=${PART_NAMES.filter((p) => all.has(p)).join(',')}`;
}

export class RequirementError extends Error {
  constructor(
    readonly part: PartName,
    readonly reason: string,
  ) {
    const also = dependents(part).filter((p) => !skipReason(p));
    super(
      `the "${part}" tests cannot run here: ${reason}\n` +
        `  they cover: ${PARTS[part].covers}\n` +
        `  they need:  ${PARTS[part].needs}\n` +
        `  npm test sets this up when it can (root on Debian); to run without them: ` +
        `${optOutFor([part])} npm test${also.length > 0 ? ` (also skips ${also.join(', ')})` : ''}`,
    );
    this.name = 'RequirementError';
    // The message says it all; a stack into the test support would only bury it.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/**
 * `false` when `name`'s tests run; the skip reason when KUBEXIT_TEST_SKIP opts out of it. Any
 * check that returns a reason (something missing) throws a RequirementError instead: the test
 * file fails, loudly. Checks run in order and only when the part is not opted out.
 */
export function requires(name: PartName, ...checks: (() => string | false)[]): string | false {
  const skip = skipReason(name);
  if (skip) return skip;
  for (const check of checks) {
    const reason = check();
    if (reason) throw new RequirementError(name, reason);
  }
  return false;
}
