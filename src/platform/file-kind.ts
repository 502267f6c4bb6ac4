// What sits at a path, in words, for the messages of every reader that takes regular files only
// (neighbours' tombstones, the API's token, CA and kubeconfig).
import type { FileStats as Stats } from './fs.js';

/** `a FIFO`, `a directory`…; undefined for a regular file. */
export function fileKind(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'an unknown kind of file';
}
