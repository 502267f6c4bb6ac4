// `kubexit install <dir>`: side-loads the running executable into a shared volume, so that an
// init container needs no shell and no `cp`. Beside it go the dynamic loader (<dir>/ld) and the
// libraries this very process has loaded (<dir>/lib), and the copy is pointed at them: mounted
// at /kubexit, the folder runs in any root, even one with no libc at all.
import {
  closeSync,
  copyFileSync,
  chmodSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';

/** The documented mount path: the installed executable finds its loader and libraries there. */
export const MOUNT_PATH = '/kubexit';
const LOADER = `${MOUNT_PATH}/ld`;
const LIBRARIES = `${MOUNT_PATH}/lib`;

export interface Installed {
  executable: string;
  libraries: string[];
}

/** Installs the running executable into `dir`; every file appears atomically (temp + rename). */
export function install(dir: string): Installed {
  if (process.versions.bun === undefined) {
    throw new Error(
      'install works from the packaged executable (kubexit-linux-*), not from `node kubexit.js`',
    );
  }
  const self = realpathSync(process.execPath);
  const interp = readElf(self).interp;
  if (interp === undefined) throw new Error(`${self} has no interpreter path`);

  mkdirSync(join(dir, 'lib'), { recursive: true });
  const libraries: string[] = [];
  let loader: string | undefined;
  for (const path of mappedFiles()) {
    if (path === self) continue;
    const elf = tryReadElf(path);
    if (elf === undefined || !elf.shared) continue;
    // The loader is the interpreter the kernel ran; it is also the libc on musl.
    const isLoader = basename(path) === basename(interp) || elf.soname === basename(interp);
    if (isLoader) loader = path;
    if (isLoader && elf.soname === undefined) continue;
    const name = elf.soname ?? basename(path);
    if (name.includes('/')) continue;
    placeFile(path, join(dir, 'lib', name), 0o755);
    libraries.push(name);
  }
  if (loader === undefined) throw new Error(`the loader ${interp} is not mapped in this process`);
  placeFile(loader, join(dir, 'ld'), 0o755);

  // The executable last: once <dir>/kubexit exists, everything it needs is there.
  const target = join(dir, 'kubexit');
  placeFile(self, target, 0o755, (temp) => pointAt(temp, LOADER, LIBRARIES));
  return { executable: target, libraries };
}

/** Copies `from` to a temp file beside `to`, lets `edit` change it, then renames it over `to`. */
function placeFile(from: string, to: string, mode: number, edit?: (temp: string) => void): void {
  const temp = join(to, '..', `.${basename(to)}-${Math.random().toString(36).slice(2, 10)}.tmp`);
  try {
    copyFileSync(from, temp);
    edit?.(temp);
    chmodSync(temp, mode);
    renameSync(temp, to);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // the copy error is the one to report
    }
    throw err;
  }
}

/** Files mapped into this process: its executable, loader and libraries among them. */
function mappedFiles(): string[] {
  const paths = new Set<string>();
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const path = line.split(/\s+/).slice(5).join(' ');
    if (!path.startsWith('/') || path.endsWith(' (deleted)')) continue;
    try {
      if (statSync(path).isFile()) paths.add(path);
    } catch {
      // gone or hidden: not ours to copy
    }
  }
  return [...paths];
}

// ELF64 little-endian (x86-64 and aarch64): just what install needs.
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_STRTAB = 5;
const DT_SONAME = 14;
const DT_DEBUG = 21;
const DT_RUNPATH = 29;
const ET_DYN = 3;

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
  /** Where this program header is in the file. */
  at: number;
}

interface Elf {
  shared: boolean;
  interp?: string;
  interpSegment?: Segment;
  soname?: string;
  strtab?: number;
  /** File offset of each dynamic entry, by tag (the first of each). */
  dynamic: Map<number, number>;
}

function tryReadElf(path: string): Elf | undefined {
  try {
    return readElf(path);
  } catch {
    return undefined;
  }
}

export function readElf(path: string): Elf {
  const fd = openSync(path, 'r');
  try {
    const read = (offset: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, offset);
      if (n !== length) throw new Error(`${path}: truncated ELF`);
      return buf;
    };
    const header = read(0, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) {
      throw new Error(`${path}: not a 64-bit little-endian ELF file`);
    }
    const type = header.readUInt16LE(16);
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    const segments: Segment[] = [];
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * phentsize;
      const ph = read(at, 56);
      segments.push({
        type: ph.readUInt32LE(0),
        offset: Number(ph.readBigUInt64LE(8)),
        vaddr: Number(ph.readBigUInt64LE(16)),
        filesz: Number(ph.readBigUInt64LE(32)),
        at,
      });
    }
    const cString = (offset: number, max: number): string => {
      const buf = read(offset, max);
      const end = buf.indexOf(0);
      return buf.toString('latin1', 0, end < 0 ? max : end);
    };
    const elf: Elf = { shared: type === ET_DYN, dynamic: new Map() };
    const interp = segments.find((s) => s.type === PT_INTERP);
    if (interp) {
      elf.interp = cString(interp.offset, interp.filesz);
      elf.interpSegment = interp;
    }
    const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
    if (dynamic) {
      const entries = read(dynamic.offset, dynamic.filesz);
      let strtab: number | undefined;
      let soname: number | undefined;
      for (let o = 0; o + 16 <= entries.length; o += 16) {
        const tag = Number(entries.readBigInt64LE(o));
        const value = Number(entries.readBigUInt64LE(o + 8));
        if (tag === DT_NULL) break;
        if (!elf.dynamic.has(tag)) elf.dynamic.set(tag, dynamic.offset + o);
        if (tag === DT_STRTAB) strtab = elf.strtab = value;
        if (tag === DT_SONAME) soname = value;
      }
      if (strtab !== undefined && soname !== undefined) {
        const table = strtab;
        const load = segments.find(
          (s) => s.type === PT_LOAD && s.vaddr <= table && table < s.vaddr + s.filesz,
        );
        if (load) elf.soname = cString(table - load.vaddr + load.offset + soname, 256);
      }
    }
    return elf;
  } finally {
    closeSync(fd);
  }
}

/**
 * Points an executable at a loader and a library folder by editing it in place, so that nothing
 * moves (patchelf moves sections, which broke the arm64 executable): the interpreter path is
 * rewritten in its own room, the library folder's path is stored in the same room after it, and
 * the DT_DEBUG entry (only used by debuggers) becomes a DT_RUNPATH naming that string. Its
 * offset is counted from the string table, modulo 2^64, as the loaders compute it.
 */
export function pointAt(path: string, loader: string, libraries: string): void {
  const elf = readElf(path);
  // An installed copy installing itself again (a second init container, say): already pointed.
  if (elf.interp === loader && elf.dynamic.has(DT_RUNPATH)) return;
  const room = elf.interpSegment;
  const debug = elf.dynamic.get(DT_DEBUG);
  if (room === undefined || elf.strtab === undefined) {
    throw new Error(`${path} has no interpreter path or no string table`);
  }
  if (debug === undefined) throw new Error(`${path} has no DT_DEBUG entry to use`);
  if (elf.dynamic.has(DT_RUNPATH)) throw new Error(`${path} already has a DT_RUNPATH`);
  const strings = Buffer.from(`${loader}\0${libraries}\0`, 'latin1');
  if (strings.length > room.filesz) {
    throw new Error(`${loader} and ${libraries} don't fit in the interpreter room of ${path}`);
  }
  const bytes = Buffer.alloc(room.filesz);
  strings.copy(bytes);
  const interpLength = BigInt(loader.length + 1);
  const header = Buffer.alloc(16);
  header.writeBigUInt64LE(interpLength, 0); // p_filesz
  header.writeBigUInt64LE(interpLength, 8); // p_memsz
  const entry = Buffer.alloc(16);
  entry.writeBigInt64LE(BigInt(DT_RUNPATH), 0);
  const at = BigInt(room.vaddr) + interpLength - BigInt(elf.strtab);
  entry.writeBigUInt64LE(BigInt.asUintN(64, at), 8);

  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, room.offset);
    writeSync(fd, header, 0, header.length, room.at + 32);
    writeSync(fd, entry, 0, entry.length, debug);
  } finally {
    closeSync(fd);
  }
}
