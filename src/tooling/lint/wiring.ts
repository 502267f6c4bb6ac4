// Is the kubexit executable where each kubexit container's command runs it from? And the
// wiring of the Go kubexit era (cp in the init container, kubexit inside sh -c), recognised.
import { posix } from 'node:path';
import { isSeq, type Node } from 'yaml';
import { goCopyDestination, SHELLS } from '../inject-calls.js';
import { text, type Container } from '../manifest.js';
import { containerAt, didYouMean, itemAt, nodeAt, stringsOf } from './findings.js';
import { landing, type Landing, type Pod } from './pod.js';

/** Where `kubexit install` points the executable at its loader and libraries. */
const INSTALL_DIR = '/kubexit';
/** kubexit named in a shell script: a path ending in /kubexit, or the bare word. */
const IN_SCRIPT = /(^|[\s;&|(`])(exec\s+)?((?:[^\s;&|'"`()]*\/)?kubexit)(?=$|[\s;&|)`'"])/m;
const GO_IMAGES = /^(docker\.io\/)?(karlkfi|ispringtech)\/kubexit(:|@|$)/;

/** How a command runs kubexit. */
interface Invocation {
  path: string;
  /** Where it is named in the source. */
  at: Node | number;
  /** From inside an `sh -c` script, and whether the script execs it. */
  script?: { exec: boolean; node: Node | undefined };
}

export function checkExecutable(pod: Pod): void {
  const installs = pod.containers.filter((c) => c.init).flatMap(installsOf);
  for (const { container } of pod.kubexits) {
    const run = invocationOf(pod, container);
    if (run === undefined) continue;
    if (run.script && !run.script.exec) {
      pod.report.warning(
        'go-era',
        run.at,
        `old-style wiring: container ${container.name} starts kubexit inside an sh -c script, so the shell is the container's PID 1 and may not pass the kubelet's SIGTERM on; write "exec ${run.path} …" in the script, or make ${run.path} the first element of command`,
      );
    }
    if (!run.path.startsWith('/')) {
      pod.report.warning(
        'executable',
        run.at,
        `container ${container.name} runs "${run.path}" from its image's PATH: lint can't see that the image has it; the wiring convention is ${INSTALL_DIR}/kubexit from the kubexit volume`,
      );
      continue;
    }
    const path = posix.normalize(run.path);
    const where = landing(container, path);
    if (where === undefined) {
      const dir = posix.dirname(path);
      const say = `no volume is mounted at ${dir} in container ${container.name}, so ${path} must come from its image`;
      if (dir === INSTALL_DIR)
        pod.report.error(
          'executable',
          run.at,
          `${say}: mount the kubexit volume at ${INSTALL_DIR}`,
        );
      else pod.report.warning('executable', run.at, `${say}: lint can't check that it is there`);
      continue;
    }
    const volume = pod.volumes.get(where.volume);
    if (volume === undefined) {
      pod.report.error(
        'executable',
        nodeAt(where.mount, 'name') ?? where.mount,
        `volume "${where.volume}" (mounted for ${path}) is not among the pod's volumes${didYouMean(where.volume, pod.volumes.keys())}`,
      );
      continue;
    }
    if (volume.has('image')) {
      imageVolume(pod, container, path, where, run.at);
      continue;
    }
    const found = installs.find((i) => i.volume === where.volume && i.inside === where.inside);
    if (found === undefined) {
      const elsewhere = installs.filter((i) => i.volume === where.volume);
      pod.report.error(
        'executable',
        run.at,
        `nothing installs kubexit at ${path} in container ${container.name}: ` +
          (elsewhere.length > 0
            ? `init container ${elsewhere[0]?.container.name} writes it to ${elsewhere.map((i) => i.dest).join(', ')} in volume "${where.volume}"`
            : `no init container installs into volume "${where.volume}" (an init container with the kubexit image, args: [install, ${INSTALL_DIR}], mounting it)`),
      );
      continue;
    }
    if (found.style === 'install' && posix.dirname(path) !== INSTALL_DIR) {
      pod.report.error(
        'executable',
        run.at,
        `kubexit install points the executable at its loader and libraries in ${INSTALL_DIR}, but container ${container.name} mounts volume "${where.volume}" at ${posix.dirname(path)}: mount it at ${INSTALL_DIR}`,
      );
    }
  }
  goEraInstallers(pod);
}

/** The kubexit image's /kubexit folder holds what `kubexit install /kubexit` writes. */
function imageVolume(
  pod: Pod,
  container: Container,
  path: string,
  where: Landing,
  at: Node | number,
): void {
  if (where.inside === 'kubexit/kubexit' && posix.dirname(path) === INSTALL_DIR) return;
  const fix =
    where.inside === 'kubexit'
      ? `mount it with subPath: kubexit`
      : `mount it at ${INSTALL_DIR} with subPath: kubexit and run ${INSTALL_DIR}/kubexit`;
  pod.report.error(
    'executable',
    at,
    `container ${container.name} runs ${path}, which is "${where.inside}" in the image volume "${where.volume}", but the kubexit image holds the executable at kubexit/kubexit (with its loader, for ${INSTALL_DIR}): ${fix}`,
  );
}

/** Finds kubexit in a container's command: as a program, or named in an sh -c script. */
function invocationOf(pod: Pod, container: Container): Invocation | undefined {
  const command = stringsOf(container.node, 'command');
  const args = stringsOf(container.node, 'args') ?? [];
  const commandNode = nodeAt(container.node, 'command');
  if (command === undefined || command.length === 0) {
    pod.report.warning(
      'executable',
      containerAt(container),
      `container ${container.name} has no command, so its KUBEXIT_* variables only work if the image's entrypoint is kubexit; set command: [${INSTALL_DIR}/kubexit, <the program>, …]`,
    );
    return undefined;
  }
  const argv = [...command, ...args];
  const nodes = [...seqItems(commandNode), ...seqItems(nodeAt(container.node, 'args'))];
  const direct = argv.findIndex((a) => posix.basename(a) === 'kubexit');
  // The first program that is a shell with -c: its script is the next argument.
  const shell = SHELLS.has(posix.basename(argv[0] ?? ''));
  const flag = shell ? argv.findIndex((a, i) => i > 0 && /^-[a-z]*c[a-z]*$/.test(a)) : -1;
  if (direct >= 0 && (flag < 0 || direct < flag))
    return { path: argv[direct] as string, at: nodes[direct] ?? commandNode ?? container.node };
  if (flag >= 0) {
    const script = argv[flag + 1] ?? '';
    const node = nodes[flag + 1];
    const m = IN_SCRIPT.exec(script);
    if (m) {
      const path = m[3] as string;
      return {
        path,
        at: itemAt(pod.template.source, node, path),
        script: { exec: m[2] !== undefined, node },
      };
    }
  }
  pod.report.error(
    'executable',
    commandNode ?? container.node,
    `container ${container.name}'s command doesn't run kubexit, so its KUBEXIT_* variables do nothing: put ${INSTALL_DIR}/kubexit first in command`,
  );
  return undefined;
}

function seqItems(node: Node | undefined): (Node | undefined)[] {
  return isSeq(node) ? node.items.map((i) => i as Node) : [];
}

/** What an init container writes kubexit to, in volume terms. */
interface Install {
  container: Container;
  style: 'install' | 'cp';
  dest: string;
  volume: string;
  inside: string;
  at: Node | undefined;
}

function installsOf(container: Container): Install[] {
  const command = stringsOf(container.node, 'command');
  const args = stringsOf(container.node, 'args') ?? [];
  const argv = [...(command ?? []), ...args];
  const at = nodeAt(container.node, 'command') ?? nodeAt(container.node, 'args');
  const found: Install[] = [];
  const add = (style: Install['style'], dest: string): void => {
    const path = posix.normalize(dest);
    const where = landing(container, path);
    if (where !== undefined)
      found.push({ container, style, dest: path, volume: where.volume, inside: where.inside, at });
  };
  // `kubexit install DIR` (our image's entrypoint is kubexit: command may be left out).
  const i = argv.indexOf('install');
  const runsKubexit = command === undefined || posix.basename(command[0] ?? '') === 'kubexit';
  if (i >= 0 && runsKubexit && argv[i + 1] !== undefined)
    add('install', posix.join(argv[i + 1] as string, 'kubexit'));
  // The Go era's copy: `cp /app/bin/kubexit /kubexit/kubexit`, perhaps inside sh -c.
  const folder = goCopyDestination(container);
  if (folder !== undefined) add('cp', posix.join(folder, 'kubexit'));
  return found;
}

/** Init containers wired as for the Go kubexit: still working, upgraded by kubexit inject. */
function goEraInstallers(pod: Pod): void {
  for (const c of pod.containers) {
    if (!c.init) continue;
    const image = text(c.node.get('image')) ?? '';
    const copy = goCopyDestination(c);
    if (GO_IMAGES.test(image)) {
      pod.report.warning(
        'go-era',
        nodeAt(c.node, 'image'),
        `old-style wiring: init container ${c.name} uses the Go kubexit's image ${image}; kubexit inject upgrades it to this kubexit's image with args: [install, ${INSTALL_DIR}]`,
      );
    } else if (copy !== undefined) {
      pod.report.warning(
        'go-era',
        nodeAt(c.node, 'command') ?? nodeAt(c.node, 'args'),
        `old-style wiring: init container ${c.name} copies kubexit with cp (the Go kubexit's way; this image still answers to it); kubexit inject upgrades it to args: [install, ${INSTALL_DIR}]`,
      );
    }
  }
}
