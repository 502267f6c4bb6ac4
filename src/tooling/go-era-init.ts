// The Go kubexit's init containers copied the executable out of its image with the base image's
// tools:
//   command: ['cp', '/app/bin/kubexit', '/kubexit/kubexit']   (ispringtech fork, Debian image)
//   command: ['cp', '/bin/kubexit', '/kubexit/kubexit']       (karlkfi/kubexit, Alpine image)
// This image has no shell and no cp. Instead its executable is also at /bin/cp and /bin/sh (hard
// links: no bytes added), and run from a file of one of those names it answers exactly those
// commands by installing itself, as `kubexit install <dir>` does. Everything else is refused
// with exit 2 and what to write instead: it never pretends to be a real cp or shell.
import { statSync } from 'node:fs';
import { posix } from 'node:path';
import { splitWords } from '../supervisor/probe-spec.js';
import { MOUNT_PATH } from './install.js';

export { MOUNT_PATH };

/** Where the Go images had kubexit (and where this image has it): the sources `cp` accepts. */
export const KUBEXIT_SOURCES: readonly string[] = [
  '/app/bin/kubexit',
  '/bin/kubexit',
  '/usr/local/bin/kubexit',
];

export const GO_ERA_FORM =
  "args: [install, /kubexit], the image's entrypoint doing the install; or the Go kubexit's " +
  'init command, cp /app/bin/kubexit /kubexit/kubexit or cp /bin/kubexit /kubexit/kubexit ' +
  '(also through sh -c), and nothing more';

export type GoEraInit =
  /** atMountPath: `dir` is /kubexit, where the installed copy expects its loader and libraries. */
  { kind: 'install'; dir: string; atMountPath: boolean } | { kind: 'refuse'; problem: string };

/** What the executable run as `name` (cp or sh) does with `args`. */
export function goEraInit(name: string, args: readonly string[]): GoEraInit {
  if (name === 'cp') return copy(args);
  if (args[0] !== '-c' || args.length !== 2) {
    return refuse('this sh runs only sh -c "<one cp command>"');
  }
  const script = args[1] as string;
  // Anything a shell would do more than split words: there is no shell to do it.
  const shell = script.match(/[;&|<>$`(){}*?~#\n]/);
  if (shell !== null) {
    return refuse(
      `the script has shell syntax (${JSON.stringify(shell[0])}), and there is no shell`,
    );
  }
  const words = splitWords(script);
  if (typeof words === 'string') return refuse(`the script has ${words}`);
  const [command, ...rest] = words;
  if (command !== 'cp' && command !== '/bin/cp') {
    return refuse(`the script runs ${JSON.stringify(command ?? '')}, not cp`);
  }
  return copy(rest);
}

function copy(args: readonly string[]): GoEraInit {
  const option = args.find((a) => a.startsWith('-'));
  if (option !== undefined) return refuse(`option ${option}: this cp takes none`);
  if (args.length !== 2)
    return refuse(`expected 2 operands, a source and a target; got ${args.length}`);
  const [source, target] = args as [string, string];
  if (!KUBEXIT_SOURCES.includes(posix.normalize(source))) {
    return refuse(`${source} is not kubexit (${KUBEXIT_SOURCES.join(', ')})`);
  }
  // As cp would: into a folder that exists (or is written as one), else the file <dir>/kubexit.
  if (target.endsWith('/') || isFolder(target)) return installInto(target);
  const path = posix.normalize(target);
  if (posix.basename(path) !== 'kubexit') {
    return refuse(`${target}: the copy must be named kubexit (<dir>/kubexit)`);
  }
  return installInto(posix.dirname(path));
}

function installInto(dir: string): GoEraInit {
  return { kind: 'install', dir, atMountPath: posix.resolve(dir) === MOUNT_PATH };
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function refuse(problem: string): GoEraInit {
  return { kind: 'refuse', problem };
}
