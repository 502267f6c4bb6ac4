// Would the kernel's execve run this file? Node's spawn goes through libuv to glibc's execvp,
// which runs any file execve refuses with ENOEXEC (a script without #!, random bytes, an
// empty file, another architecture's binary) through /bin/sh instead. kubexit refuses those,
// as execve itself, the Bun build, Go's kubexit and container runtimes do.
// Only the node build spawns through execvp: node:fs is loaded by the first spawn.
import { nodeFs } from './fs.js';

/** The kernel reads this much of a file to choose its loader (BINPRM_BUF_SIZE). */
const HEADER_SIZE = 256;
const BINFMT_MISC = '/proc/sys/fs/binfmt_misc';

/** glibc's execvp when PATH is unset (confstr _CS_PATH). */
const DEFAULT_PATH = '/bin:/usr/bin';

/** execve errors after which execvp tries the next PATH entry. */
const NEXT_ENTRY = new Set(['ENOENT', 'ESTALE', 'ENOTDIR', 'ENODEV', 'ETIMEDOUT', 'EACCES']);

/**
 * The file execvp would hand to execve for `file`: `file` itself when it has a "/", else the
 * first regular, executable file of that name on `path`. Undefined when there is none, or when
 * execvp would stop on an error: spawn then reports it as it always has.
 */
export function resolveCommand(file: string, path: string | undefined): string | undefined {
  if (file.includes('/')) return file;
  const fs = nodeFs();
  for (const dir of (path ?? DEFAULT_PATH).split(':')) {
    // An empty entry is the current folder.
    const candidate = dir === '' ? file : `${dir.replace(/\/+$/, '')}/${file}`;
    try {
      // No exception for the usual miss: throwing costs more than the look-up.
      const stat = fs.statSync(candidate, { throwIfNoEntry: false });
      if (stat === undefined || !stat.isFile()) continue; // execve: ENOENT, EACCES
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch (err) {
      if (!NEXT_ENTRY.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    }
  }
  return undefined;
}

/**
 * False when execve would fail with ENOEXEC: the file is neither a #! script, nor an ELF binary
 * of this machine, nor a format registered with binfmt_misc (qemu-user, Wine…). True when it
 * runs, or when it can't be read (execute-only): execve then decides alone.
 */
export function isExecFormat(path: string): boolean {
  let header: Buffer;
  try {
    header = readHeader(path);
  } catch {
    return true;
  }
  if (header[0] === 0x23 && header[1] === 0x21) return true; // #!
  if (isNativeElf(header)) return true;
  return binfmtMiscEntries().some((entry) => entry.matches(header, path));
}

function readHeader(path: string): Buffer {
  const fs = nodeFs();
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(HEADER_SIZE); // zeros past the end, as the kernel's buffer
    fs.readSync(fd, buf, 0, HEADER_SIZE, 0);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** ELF machines this kernel runs itself (64-bit, and the 32-bit compat ones). */
const NATIVE_MACHINES: Readonly<Record<string, readonly number[]>> = {
  x64: [62, 3], // EM_X86_64, EM_386
  arm64: [183, 40], // EM_AARCH64, EM_ARM
};

function isNativeElf(h: Buffer): boolean {
  if (h.readUInt32BE(0) !== 0x7f454c46) return false; // \x7fELF
  const machines = NATIVE_MACHINES[process.arch];
  if (machines === undefined) return true; // another host: don't guess, let execve decide
  const machine = h[5] === 2 ? h.readUInt16BE(18) : h.readUInt16LE(18); // EI_DATA: 2 = big endian
  return machines.includes(machine);
}

export interface BinfmtEntry {
  matches(header: Buffer, path: string): boolean;
}

/**
 * One binfmt_misc entry as /proc shows it: "enabled", then "offset", "magic", "mask" (hex), or
 * "extension .ext". Undefined when disabled or not understood.
 */
export function parseBinfmtEntry(text: string): BinfmtEntry | undefined {
  const lines = text.split('\n');
  if (lines[0] !== 'enabled') return undefined;
  const field = (key: string): string | undefined =>
    lines.find((l) => l.startsWith(`${key} `))?.slice(key.length + 1);
  const extension = field('extension');
  if (extension !== undefined) {
    const ext = extension.replace(/^\./, '');
    // The kernel compares what follows the last "." of the path given to execve.
    return {
      matches(_h, path) {
        const dot = path.lastIndexOf('.');
        return dot >= 0 && path.slice(dot + 1) === ext;
      },
    };
  }
  const magicHex = field('magic');
  if (magicHex === undefined) return undefined;
  const offset = Number(field('offset') ?? '0');
  const magic = Buffer.from(magicHex, 'hex');
  const mask = Buffer.from(field('mask') ?? 'ff'.repeat(magic.length), 'hex');
  return {
    matches(h) {
      for (let i = 0; i < magic.length; i++) {
        if ((((h[offset + i] ?? 0) ^ (magic[i] ?? 0)) & (mask[i] ?? 0xff)) !== 0) return false;
      }
      return true;
    },
  };
}

/** The enabled binfmt_misc entries; none when it is off or not mounted here. */
function binfmtMiscEntries(): BinfmtEntry[] {
  const fs = nodeFs();
  try {
    if (fs.readFileSync(`${BINFMT_MISC}/status`, 'utf8').trim() !== 'enabled') return [];
    return fs
      .readdirSync(BINFMT_MISC)
      .filter((name) => name !== 'status' && name !== 'register')
      .map((name) => parseBinfmtEntry(fs.readFileSync(`${BINFMT_MISC}/${name}`, 'utf8')))
      .filter((e): e is BinfmtEntry => e !== undefined);
  } catch {
    return [];
  }
}
