// Reading the files kubexit needs for the API (token, CA, kubeconfig and what it names) without
// ever blocking or reading without end. A plain readFileSync would wait forever in open() on a
// FIFO with no writer, stopping the event loop (no signals, no timeout), and would read
// /dev/zero or a growing file until memory runs out. Here the file is opened non-blocking,
// must be a regular file (fstat, after the open: the thing actually opened, symlinks
// followed as the kubelet's projected volumes need), and at most `max` bytes are read.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { fileKind } from '../../platform/file-kind.js';

/** A bound service-account token is ~1 KiB; 64 KiB leaves room for any real token. */
export const MAX_TOKEN_BYTES = 64 << 10;
/** A CA bundle, client certificate or key in PEM: even a bundle of ~500 CAs fits in 1 MiB. */
export const MAX_PEM_BYTES = 1 << 20;
/** A kubeconfig with dozens of contexts and inline certificates stays well under 1 MiB. */
export const MAX_KUBECONFIG_BYTES = 1 << 20;

/** A file that cannot be used; the message names the path and what is wrong with it. */
export class FileError extends Error {
  constructor(
    message: string,
    readonly path: string,
    /** The errno code (ENOENT…), when the system refused. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The whole of a regular file of at most `max` bytes. Throws a FileError otherwise. */
export function readRegularFile(path: string, max: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FileError(e.message, path, e.code);
  }
  try {
    const kind = fileKind(fstatSync(fd));
    if (kind !== undefined)
      throw new FileError(`${path} is ${kind}, expected a regular file`, path);
    // One byte more than allowed tells "too big" from "exactly the limit".
    const buf = Buffer.allocUnsafe(max + 1);
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, size, buf.length - size, null);
      if (n === 0) break;
      size += n;
      if (size > max) throw new FileError(`${path} is larger than ${bytes(max)}`, path);
    }
    return Buffer.from(buf.subarray(0, size));
  } catch (err) {
    if (err instanceof FileError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new FileError(e.message, path, e.code);
  } finally {
    closeSync(fd);
  }
}

/** 65536 → `64 KiB`, 1048576 → `1 MiB`. */
export function bytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n >> 20} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n >> 10} KiB`;
  return `${n} bytes`;
}
