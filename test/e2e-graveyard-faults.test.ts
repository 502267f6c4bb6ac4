// The graveyard itself failing, for real: a tiny tmpfs filled from outside (an emptyDir with
// `medium: Memory` and a `sizeLimit`), a read-only mount, a folder owned by another user, a file
// or a directory in the wrong place, a path longer than the kernel takes.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  FIXTURES,
  ROOT,
  Watched,
  kubexit,
  tombstone,
  waitingForBirth,
  type Exit,
} from './support/kubexit.js';
import { tempDir } from './support/temp.js';
import { NOT_ROOT, Tmpfs } from './support/tmpfs.js';

const RECORDER = join(FIXTURES, 'recorder.mjs');
const GO_DEATH = /^Born: "[^"]+"\nDied: "[^"]+"\nExitCode: (-?\d+)\n(?:Ready: "[^"]+"\n)?$/;
const GO_NEVER_BORN = /^Died: "[^"]+"\nExitCode: (-?\d+)\n$/;
const PATH_MAX = 4096; // Linux, with the final NUL

const mounts: Tmpfs[] = [];
after(() => {
  for (const m of mounts) m.unmount();
});
function tmpfs(bytes = 64 * 1024): Tmpfs {
  const m = new Tmpfs(bytes);
  mounts.push(m);
  return m;
}

/** A child that waits on a FIFO (outside the graveyard) until the test says go, then exits. */
function gated(code: number): { command: string[]; go: () => Promise<void> } {
  const fifo = join(tempDir(), 'gate');
  execFileSync('mkfifo', [fifo]);
  return {
    command: ['sh', '-c', `echo ready; read line < "$0"; exit ${code}`, fifo],
    go: () => writeFile(fifo, 'go\n'),
  };
}

/** A dependent that exits 0 on TERM, and says so. */
function dependent(graveyard: string, on: string) {
  return kubexit([process.execPath, RECORDER, '--exit-on', 'SIGTERM'], {
    KUBEXIT_NAME: 'dependent',
    KUBEXIT_GRAVEYARD: graveyard,
    KUBEXIT_DEATH_DEPS: on,
  });
}

function errorLines(exit: Exit): Record<string, unknown>[] {
  return exit.logs.filter((l) => l.level === 'error');
}

describe('a graveyard that fills up (tmpfs with a size limit)', { skip: NOT_ROOT }, () => {
  it("Died lands in place when the graveyard fills after Born; the exit code stays the child's; a dependent sees the death", async () => {
    const fs = tmpfs();
    const watcher = dependent(fs.dir, 'app');
    await watcher.stdout(/ready/);
    const child = gated(7);
    const app = kubexit(child.command, { KUBEXIT_NAME: 'app', KUBEXIT_GRAVEYARD: fs.dir });
    await app.stdout(/ready/);
    await tombstone(fs.dir, 'app', (t) => t.startsWith('Born:'));
    fs.fill();
    await child.go();

    const exit = await app.exited;
    assert.equal(exit.code, 7, exit.stderr);
    assert.deepEqual(errorLines(exit), [], 'nothing failed');
    assert.equal(readFileSync(join(fs.dir, 'app'), 'utf8').match(GO_DEATH)?.[1], '7');

    const dep = await watcher.exited;
    assert.match(dep.stdout, /got SIGTERM/, 'the dependent saw the death');
    assert.equal(dep.code, 0);
    assert.equal(readFileSync(join(fs.dir, 'dependent'), 'utf8').match(GO_DEATH)?.[1], '0');
    assert.deepEqual(readdirSync(fs.dir).sort(), ['app', 'dependent', 'filler'], 'no temp file');
  });

  it('a child that never started: Died lands in the place reserved at start-up', async () => {
    const fs = tmpfs();
    const sa = tempDir();
    const app = kubexit(['touch', join(sa, 'marker')], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: fs.dir,
      ...waitingForBirth(sa),
    });
    await app.stderr(/Watching pod pod updates/);
    const waiting = readFileSync(join(fs.dir, 'app'), 'utf8');
    // While waiting: no Born, no Died (alive to every reader), and its birth deps (for cycles).
    assert.equal(waiting, 'BirthDeps: "proxy"\n');
    fs.fill();
    app.kill('SIGTERM');

    const exit = await app.exited;
    assert.equal(exit.code, 143, exit.stderr);
    assert.equal(existsSync(join(sa, 'marker')), false);
    assert.deepEqual(errorLines(exit), []);
    assert.equal(readFileSync(join(fs.dir, 'app'), 'utf8').match(GO_NEVER_BORN)?.[1], '143');
  });

  it("a restart into a full graveyard runs in the old tombstone's place", async () => {
    const fs = tmpfs();
    const before = 'Born: "2026-01-01T00:00:00Z"\nDied: "2026-01-01T00:00:01Z"\nExitCode: 1\n';
    writeFileSync(join(fs.dir, 'app'), before);
    fs.fill();
    const exit = await kubexit(['sh', '-c', 'exit 4'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: fs.dir,
    }).exited;
    assert.equal(exit.code, 4, exit.stderr);
    const text = readFileSync(join(fs.dir, 'app'), 'utf8');
    assert.equal(text.match(GO_DEATH)?.[1], '4');
    assert.doesNotMatch(text, /2026-01-01/, 'the new run, not the old one');
    assert.deepEqual(readdirSync(fs.dir).sort(), ['app', 'filler']);
  });

  it('a graveyard full before the first tombstone: child not started, exit 1, ENOSPC named', async () => {
    const fs = tmpfs();
    fs.fill();
    const marker = join(tempDir(), 'marker');
    const exit = await kubexit(['touch', marker], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: fs.dir,
    }).exited;
    assertRefused(exit, { marker, path: join(fs.dir, 'app'), errno: 'ENOSPC' });
    assert.deepEqual(readdirSync(fs.dir), ['filler'], 'no empty file left behind');
  });

  it("a Died that cannot land at all is logged loudly, and the exit code stays the child's", async () => {
    const fs = tmpfs();
    const child = gated(7);
    const app = kubexit(child.command, { KUBEXIT_NAME: 'app', KUBEXIT_GRAVEYARD: fs.dir });
    await tombstone(fs.dir, 'app', (t) => t.startsWith('Born:'));
    fs.readOnly();
    await child.go();

    const exit = await app.exited;
    assert.equal(exit.code, 7, exit.stderr);
    const [line, ...more] = errorLines(exit);
    assert.deepEqual(more, []);
    assert.equal(line?.message, 'tombstone not written');
    assert.equal(line?.errno, 'EROFS');
    assert.equal(line?.tombstone, join(fs.dir, 'app'));
    assert.equal(line?.exit_code, 7);
    assert.match(
      String(line?.consequence),
      /kubexit dependents of app see this end as a death without a record when this process exits/,
    );
    assert.match(
      readFileSync(join(fs.dir, 'app'), 'utf8'),
      /^Born: "[^"]+"\n(?:Ready: "[^"]+"\n)?$/,
    );
  });
});

/** Exit 1, the child never ran, one error line naming the path, the errno and a way out. */
function assertRefused(
  exit: Exit,
  { marker, path, errno }: { marker: string; path: string; errno: string },
): void {
  assert.equal(exit.code, 1, exit.stderr);
  assert.equal(existsSync(marker), false, 'the child never ran');
  const [line, ...more] = errorLines(exit);
  assert.deepEqual(more, [], 'one error line');
  assert.match(String(line?.error), /^child not started: tombstone not writable: /);
  assert.equal(line?.errno, errno);
  assert.equal(line?.tombstone, path);
  assert.ok(String(line?.hint).length > 20, 'says what to do');
  assert.equal(line?.exit_code, 1);
}

/** kubexit run by another user, through util-linux's setpriv (no groups, no capabilities). */
function asUser(uid: number, args: string[], env: Record<string, string>): Watched {
  const bin = process.env.KUBEXIT_BIN;
  const kubexitCommand = bin ? [bin] : [process.execPath, join(ROOT, 'dist', 'kubexit.js')];
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('KUBEXIT_')),
  );
  const ids = [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
  return new Watched(
    spawn('setpriv', [...ids, ...kubexitCommand, ...args], {
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

function refusedRun(graveyard: string, name = 'app') {
  const marker = join(tempDir(), 'marker');
  return {
    marker,
    path: join(graveyard, name),
    run: kubexit(['touch', marker], { KUBEXIT_NAME: name, KUBEXIT_GRAVEYARD: graveyard }),
  };
}

/** A folder path of exactly `length` characters under a temp folder (not created). */
function pathOfLength(length: number): string {
  let path = tempDir();
  while (length - path.length > 201) path += '/' + 'd'.repeat(200);
  return path + '/' + 'd'.repeat(length - path.length - 1);
}

describe('a graveyard not writable at start: the child is never started', () => {
  it('read-only mount → EROFS', { skip: NOT_ROOT }, async () => {
    const fs = tmpfs();
    fs.readOnly();
    const { marker, path, run } = refusedRun(fs.dir);
    assertRefused(await run.exited, { marker, path, errno: 'EROFS' });
  });

  it(
    'a folder owned by another user (0755 root, kubexit as 65534) → EACCES',
    { skip: NOT_ROOT },
    async () => {
      const graveyard = tempDir();
      chmodSync(graveyard, 0o755);
      const markerDir = tempDir();
      chmodSync(markerDir, 0o777);
      const marker = join(markerDir, 'marker');
      const exit = await asUser(65534, ['touch', marker], {
        KUBEXIT_NAME: 'app',
        KUBEXIT_GRAVEYARD: graveyard,
      }).exited;
      assertRefused(exit, { marker, path: join(graveyard, 'app'), errno: 'EACCES' });
      assert.match(String(errorLines(exit)[0]?.hint), /uid 65534/);
    },
  );

  it('a file where the graveyard folder should be → ENOTDIR', async () => {
    const file = join(tempDir(), 'graveyard');
    writeFileSync(file, 'a file\n');
    const { marker, path, run } = refusedRun(file);
    assertRefused(await run.exited, { marker, path, errno: 'ENOTDIR' });
    assert.equal(readFileSync(file, 'utf8'), 'a file\n');
  });

  it('a file where a parent folder should be → ENOTDIR', async () => {
    const file = join(tempDir(), 'volume');
    writeFileSync(file, '');
    const { marker, path, run } = refusedRun(join(file, 'graveyard'));
    assertRefused(await run.exited, { marker, path, errno: 'ENOTDIR' });
  });

  it("a directory at the tombstone's path → EISDIR", async () => {
    const graveyard = tempDir();
    mkdirSync(join(graveyard, 'app'));
    const { marker, path, run } = refusedRun(graveyard);
    assertRefused(await run.exited, { marker, path, errno: 'EISDIR' });
  });

  it('a tombstone path longer than PATH_MAX → ENAMETOOLONG', async () => {
    const graveyard = pathOfLength(PATH_MAX - 3); // + "/app" is past the limit
    const { marker, path, run } = refusedRun(graveyard);
    assertRefused(await run.exited, { marker, path, errno: 'ENAMETOOLONG' });
  });

  it('a path with room for the tombstone but not for a temp name: written in place', async () => {
    const graveyard = pathOfLength(PATH_MAX - 16); // "/app" fits, "/.kubexit-….tmp" does not
    const exit = await kubexit(['sh', '-c', 'exit 5'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: graveyard,
    }).exited;
    assert.equal(exit.code, 5, exit.stderr);
    assert.deepEqual(errorLines(exit), []);
    assert.equal(readFileSync(join(graveyard, 'app'), 'utf8').match(GO_DEATH)?.[1], '5');
  });
});
