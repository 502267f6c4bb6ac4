// What a container's command runs, as inject sees it: a kubexit already (ours at /kubexit, or
// one of the image's own), directly or in a `sh -c` script; and which init container provides
// the executable: ours (`kubexit install /kubexit`) or a Go-era copy (`cp …/kubexit /kubexit/`).
import { isSeq } from 'yaml';
import { MOUNT_PATH } from './install.js';
import { text, type Container } from './manifest.js';

/** Where the executable is mounted: it finds its loader and libraries there. */
export const BIN = `${MOUNT_PATH}/kubexit`;

/** Programs that run an `-c` script: a kubexit inside it still runs kubexit. */
export const SHELLS: ReadonlySet<string> = new Set([
  'sh',
  'bash',
  'ash',
  'dash',
  'zsh',
  'ksh',
  'busybox',
]);

/** A sequence's items as strings (a command, its args). */
export function words(node: unknown): string[] {
  if (!isSeq(node)) return [];
  return node.items.map((i) => text(i) ?? '');
}

/** `sh -c '…'`: the script's words, when a shell runs one. */
function scriptWords(command: string[], args: string[]): string[] | undefined {
  const all = [...command, ...args];
  const shell = (all[0] ?? '').split('/').pop() as string;
  if (!SHELLS.has(shell)) return undefined;
  const flag = all.findIndex((w, i) => i > 0 && /^-[a-z]*c[a-z]*$/.test(w));
  return flag < 0 ? undefined : tokens(all.slice(flag + 1).join('\n'));
}

/** A script's words, split at blanks, quotes and shell operators: linear, whatever the text. */
function tokens(script: string): string[] {
  return script.split(/[\s;&|()`'"<>]+/).filter((w) => w !== '');
}

const isKubexit = (word: string) => word.split('/').pop() === 'kubexit';

/** Does the container run a kubexit already: ours (at /kubexit), another one, or none. */
export function callsKubexit(command: string[], args: string[]): 'ours' | 'other' | undefined {
  const first = command[0] ?? '';
  if (first === BIN) return 'ours';
  if (isKubexit(first)) return 'other';
  const script = scriptWords(command, args);
  if (script === undefined) return undefined;
  if (script.includes(BIN)) return 'ours';
  if (script.some(isKubexit)) return 'other';
  return undefined;
}

/**
 * The init container that provides the executable: ours (`args: [install, /kubexit]`, the
 * image's entrypoint), or a Go-era one (`cp /app/bin/kubexit /kubexit/kubexit`, or upstream's
 * `cp /bin/kubexit …`).
 */
export function installerKind(c: Container): 'ours' | 'go' | undefined {
  if (!c.init) return undefined;
  const args = words(c.node.get('args'));
  if (!c.node.has('command') && args[0] === 'install') return 'ours';
  return goCopyDestination(c) === undefined ? undefined : 'go';
}

/** Where a Go-era init container copies kubexit to (its folder), if it is one. */
export function goCopyDestination(c: Container): string | undefined {
  const all = tokens([...words(c.node.get('command')), ...words(c.node.get('args'))].join(' '));
  for (let i = 0; i < all.length; i++) {
    if (all[i] !== 'cp') continue;
    let from = i + 1;
    while (all[from]?.startsWith('-')) from++;
    const [source, dest] = [all[from], all[from + 1]];
    if (source === undefined || dest === undefined || !isKubexit(source)) continue;
    const clean = dest.replace(/\/+$/, '');
    return isKubexit(clean) && clean !== MOUNT_PATH ? clean.slice(0, -8) || '/' : clean;
  }
  return undefined;
}
