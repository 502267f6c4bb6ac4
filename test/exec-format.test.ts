import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isExecFormat, parseBinfmtEntry, resolveCommand } from '../src/platform/exec-format.js';
import { tempDir } from './support/temp.js';

function file(dir: string, name: string, content: string | Buffer, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode });
  return path;
}

function elfHeader(machine: number): Buffer {
  const h = Buffer.alloc(64);
  h.write('\x7fELF\x02\x01\x01', 'latin1');
  h.writeUInt16LE(2, 16);
  h.writeUInt16LE(machine, 18);
  return h;
}

describe('the command execvp would run', () => {
  it('is the path itself when the command has a "/"', () => {
    assert.equal(resolveCommand('./x', '/nowhere'), './x');
    assert.equal(resolveCommand('/bin/true', ''), '/bin/true');
  });

  it('skips folders and non-executable files on PATH, as execvp does', () => {
    const [a, b, c] = [tempDir(), tempDir(), tempDir()];
    mkdirSync(join(a, 'job'));
    file(b, 'job', '#!/bin/sh\n', 0o644);
    const wanted = file(c, 'job', '#!/bin/sh\n', 0o755);
    assert.equal(resolveCommand('job', `${a}:/no/such/dir:${b}:${c}/`), wanted);
  });

  it('is undefined when nothing on PATH will do: spawn reports ENOENT or EACCES', () => {
    const a = tempDir();
    file(a, 'job', '', 0o644);
    assert.equal(resolveCommand('job', a), undefined);
    assert.equal(resolveCommand('kubexit-no-such-command', process.env.PATH), undefined);
  });
});

describe('whether execve takes a file (or fails with ENOEXEC)', () => {
  const dir = tempDir();
  it("takes #! scripts and this machine's binaries", () => {
    assert.equal(isExecFormat(file(dir, 'script', '#!/no/such/interpreter\n', 0o755)), true);
    assert.equal(isExecFormat(process.execPath), true);
  });

  it("refuses text without #!, random bytes, an empty file, another machine's ELF", () => {
    assert.equal(isExecFormat(file(dir, 'text', 'echo hi\n', 0o755)), false);
    assert.equal(
      isExecFormat(file(dir, 'bytes', Buffer.from([0x8f, 3, 0x29, 0xfe]), 0o755)),
      false,
    );
    assert.equal(isExecFormat(file(dir, 'empty', '', 0o755)), false);
    const foreign = process.arch === 'arm64' ? 62 : 183;
    assert.equal(isExecFormat(file(dir, 'elf', elfHeader(foreign), 0o755)), false);
  });
});

describe('binfmt_misc entries, as /proc/sys/fs/binfmt_misc shows them', () => {
  // The shape qemu-user-static registers for arm64 ELF executables.
  const qemu = parseBinfmtEntry(
    [
      'enabled',
      'interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P',
      'flags: POCF',
      'offset 0',
      'magic 7f454c460201010000000000000000000200b700',
      'mask ffffffffffffff00fffffffffffffffffeffffff',
      '',
    ].join('\n'),
  );

  it('matches the magic under its mask', () => {
    assert.ok(qemu);
    assert.equal(qemu.matches(elfHeader(183), '/x/app'), true);
    assert.equal(qemu.matches(elfHeader(62), '/x/app'), false);
    assert.equal(qemu.matches(Buffer.alloc(256), '/x/app'), false);
  });

  it('matches an extension on the last "." of the path', () => {
    const wine = parseBinfmtEntry('enabled\ninterpreter /usr/bin/wine\nflags: \nextension .exe\n');
    assert.ok(wine);
    assert.equal(wine.matches(Buffer.alloc(256), '/apps/setup.exe'), true);
    assert.equal(wine.matches(Buffer.alloc(256), '/apps.exe/setup'), false);
    assert.equal(wine.matches(Buffer.alloc(256), 'setup'), false);
  });

  it('ignores disabled entries', () => {
    assert.equal(
      parseBinfmtEntry('disabled\ninterpreter /x\nflags: \noffset 0\nmagic 4d5a\n'),
      undefined,
    );
  });
});
