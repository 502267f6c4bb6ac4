// Every row of the exit-code table, through a real kubexit process.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kubexit } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const GO_DEATH = /^Born: "[^"]+"\nDied: "[^"]+"\nExitCode: (-?\d+)\n(?:Ready: "[^"]+"\n)?$/;
const GO_NEVER_BORN = /^Died: "[^"]+"\nExitCode: (-?\d+)\n$/;

/** The start of an ELF executable for the other one of x64 and arm64. */
function foreignElf(): Buffer {
  const h = Buffer.alloc(64);
  h.write('\x7fELF\x02\x01\x01', 'latin1'); // 64-bit, little endian, version 1
  h.writeUInt16LE(2, 16); // ET_EXEC
  h.writeUInt16LE(process.arch === 'arm64' ? 62 : 183, 18); // EM_X86_64 or EM_AARCH64
  h.writeUInt32LE(1, 20);
  return h;
}

/** With binfmt_misc handlers (qemu-user), the kernel may run another machine's binary. */
function binfmtMiscInUse(): string | false {
  try {
    const entries = readdirSync('/proc/sys/fs/binfmt_misc').filter(
      (n) => n !== 'status' && n !== 'register',
    );
    return entries.length > 0 && `binfmt_misc handlers registered: ${entries.join(', ')}`;
  } catch {
    return false;
  }
}

async function run(args: string[], env: Record<string, string> = {}) {
  const graveyard = tempDir();
  const exit = await kubexit(args, { KUBEXIT_NAME: 'app', KUBEXIT_GRAVEYARD: graveyard, ...env })
    .exited;
  const path = join(graveyard, 'app');
  return { exit, tombstone: existsSync(path) ? readFileSync(path, 'utf8') : undefined };
}

describe('exit codes (kubexit exits with what its tombstone says)', () => {
  for (const code of [0, 1, 42, 255]) {
    it(`child exits ${code} → ${code}`, async () => {
      const { exit, tombstone } = await run(['sh', '-c', `exit ${code}`]);
      assert.equal(exit.code, code);
      assert.equal(tombstone?.match(GO_DEATH)?.[1], String(code));
    });
  }

  for (const [sig, code] of [
    ['TERM', 143],
    ['KILL', 137],
    ['INT', 130],
    ['SEGV', 139],
  ] as const) {
    it(`child killed by SIG${sig} → ${code}`, async () => {
      const { exit, tombstone } = await run(['sh', '-c', `kill -${sig} $$`]);
      assert.equal(exit.code, code);
      assert.equal(tombstone?.match(GO_DEATH)?.[1], String(code));
    });
  }

  it('command not found → 127, no Born', async () => {
    const { exit, tombstone } = await run(['kubexit-no-such-command']);
    assert.equal(exit.code, 127);
    assert.equal(tombstone?.match(GO_NEVER_BORN)?.[1], '127');
    assert.match(String(exit.logs.at(-1)?.error), /ENOENT/);
  });

  it('command not executable → 126', async () => {
    const file = join(tempDir(), 'script');
    writeFileSync(file, '#!/bin/sh\nexit 0\n');
    chmodSync(file, 0o644);
    const { exit, tombstone } = await run([file]);
    assert.equal(exit.code, 126);
    assert.equal(tombstone?.match(GO_NEVER_BORN)?.[1], '126');
  });

  // Hardening (issue 7): a file execve refuses with ENOEXEC is not run through /bin/sh (as glibc's
  // execvp under `node dist/kubexit.js` did); the Bun build, Go's kubexit and runc refuse it too.
  const notExecutable: [string, string | Buffer][] = [
    ['a script without #!', ''],
    [
      'random bytes',
      Buffer.from([0x8f, 0x03, 0x29, 0xfe, 0x00, 0x41, 0x0a, 0x28, 0x29, 0x7b, 0x0a]),
    ],
    ['an empty file', ''],
    // An arm64 ELF header on x64 (or an x64 one on arm64): another machine's binary.
    ["another architecture's ELF binary", foreignElf()],
  ];
  for (const [what, content] of notExecutable) {
    for (const via of ['by path', 'via PATH']) {
      const skip = what.includes('ELF') && binfmtMiscInUse();
      it(`${what}, mode 0755, ${via} → 126 ENOEXEC, nothing of it runs`, { skip }, async () => {
        const dir = tempDir();
        const marker = join(tempDir(), 'script-ran');
        const file = join(dir, 'job');
        const text = what === 'a script without #!' ? `touch ${marker}\nexit 3\n` : content;
        writeFileSync(file, text, { mode: 0o755 });
        const path = `${dir}:${process.env.PATH ?? ''}`;
        const { exit, tombstone } = await run([via === 'by path' ? file : 'job', 'arg'], {
          PATH: path,
        });
        assert.equal(exit.code, 126);
        assert.equal(existsSync(marker), false, 'no shell ran the file');
        assert.equal(tombstone?.match(GO_NEVER_BORN)?.[1], '126');
        const error = String(exit.logs.at(-1)?.error);
        assert.match(error, /ENOEXEC/);
        assert.match(error, /exec format error/);
      });
    }
  }

  it('a #! script runs via PATH; a non-executable file of that name earlier on PATH is skipped', async () => {
    const first = tempDir();
    const second = tempDir();
    writeFileSync(join(first, 'job'), '#!/bin/sh\nexit 5\n', { mode: 0o644 });
    writeFileSync(join(second, 'job'), '#!/bin/sh\nexit 7\n', { mode: 0o755 });
    const path = `${first}:${second}:${process.env.PATH ?? ''}`;
    const { exit, tombstone } = await run(['job'], { PATH: path });
    assert.equal(exit.code, 7);
    assert.equal(tombstone?.match(GO_DEATH)?.[1], '7');
  });

  it('a folder as command → 126', async () => {
    const { exit } = await run([tempDir()]);
    assert.equal(exit.code, 126);
  });

  it('no command → 2, and a tombstone for the dependents', async () => {
    const { exit, tombstone } = await run([]);
    assert.equal(exit.code, 2);
    assert.equal(exit.logs.at(-1)?.message, 'no arguments found');
    assert.equal(tombstone?.match(GO_NEVER_BORN)?.[1], '2');
  });

  it('bad configuration → 2', async () => {
    const { exit, tombstone } = await run(['true'], { KUBEXIT_GRACE_PERIOD: 'soon' });
    assert.equal(exit.code, 2);
    assert.equal(tombstone?.match(GO_NEVER_BORN)?.[1], '2');
  });

  it('kubexit cannot write its tombstone → 1, and the child is never started', async () => {
    const file = join(tempDir(), 'not-a-folder');
    writeFileSync(file, '');
    const marker = join(tempDir(), 'finished');
    const exit = await kubexit(['sh', '-c', `sleep 5; touch ${marker}`], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: file,
    }).exited;
    assert.equal(exit.code, 1);
    assert.equal(existsSync(marker), false);
    assert.match(String(exit.logs.at(-1)?.error), /child not started: tombstone not writable/);
  });
});
