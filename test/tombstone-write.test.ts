// Our own tombstone on a graveyard that is full or hostile: written in place when a new file
// cannot be, never through a symlink, FIFO or directory planted at its path.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Graveyard, OwnTombstone } from '../src/supervisor/graveyard.js';
import { formatTombstone, parseCanonical } from '../src/supervisor/tombstone.js';
import { TombstoneWriteError } from '../src/supervisor/tombstone-write.js';
import { tempDir } from './support/temp.js';
import { NOT_ROOT, Tmpfs } from './support/tmpfs.js';

const BORN = '2020-04-28T10:41:46.9926314Z';
const DIED = '2020-04-28T10:41:47.0496314Z';
const TOMBSTONE = /^Born: "[^"]+"\n(Died: "[^"]+"\nExitCode: -?\d+\n)?$/;

const mounts: Tmpfs[] = [];
after(() => {
  for (const m of mounts) m.unmount();
});
function fullTmpfs(prepare: (dir: string) => void = () => undefined): Tmpfs {
  const m = new Tmpfs(64 * 1024);
  mounts.push(m);
  prepare(m.dir);
  m.fill();
  return m;
}

describe('the placeholder written before the start', () => {
  it("is Go's empty tombstone, which the fast path reads as a living container", () => {
    const dir = tempDir();
    new OwnTombstone(new Graveyard(dir), 'app').reserve();
    const text = readFileSync(join(dir, 'app'), 'utf8');
    assert.equal(text, formatTombstone({}));
    assert.equal(text, '{}\n');
    assert.deepEqual(parseCanonical(text), {});
  });

  it('is replaced by the exact Go bytes at Born and Died', () => {
    const dir = tempDir();
    const own = new OwnTombstone(new Graveyard(dir), 'app');
    own.reserve();
    own.born();
    assert.match(readFileSync(join(dir, 'app'), 'utf8'), /^Born: "[^"]+"\n$/);
    own.died(9);
    assert.match(
      readFileSync(join(dir, 'app'), 'utf8'),
      /^Born: "[^"]+"\nDied: "[^"]+"\nExitCode: 9\n$/,
    );
    assert.deepEqual(readdirSync(dir), ['app']);
  });
});

describe('a full graveyard (tmpfs)', { skip: NOT_ROOT }, () => {
  it('takes the placeholder, Born and Died in place, in no new block, in the Go bytes', () => {
    const fs = fullTmpfs((dir) =>
      writeFileSync(join(dir, 'app'), formatTombstone({ born: BORN, died: DIED, exitCode: 1 })),
    );
    const own = new OwnTombstone(new Graveyard(fs.dir), 'app');
    const path = join(fs.dir, 'app');
    own.reserve();
    assert.equal(readFileSync(path, 'utf8'), '{}\n', 'shrunk: no trace of the old run');
    own.born();
    assert.match(readFileSync(path, 'utf8'), /^Born: "[^"]+"\n$/);
    own.died(7);
    assert.match(readFileSync(path, 'utf8'), /^Born: "[^"]+"\nDied: "[^"]+"\nExitCode: 7\n$/);
    assert.deepEqual(readdirSync(fs.dir).sort(), ['app', 'filler'], 'no temp file left');
    assert.equal(statfsSync(fs.dir).bavail, 0);
  });

  it('refuses with ENOSPC when there is no tombstone yet, and leaves no empty file', () => {
    const fs = fullTmpfs();
    const err = catchError(() => new OwnTombstone(new Graveyard(fs.dir), 'app').reserve());
    assert.ok(err instanceof TombstoneWriteError, String(err));
    assert.equal(err.code, 'ENOSPC');
    assert.equal(err.path, join(fs.dir, 'app'));
    assert.match(err.message, new RegExp(`^cannot write tombstone ${join(fs.dir, 'app')}: ENOSPC`));
    assert.match(err.fields.hint, /sizeLimit/);
    assert.deepEqual(readdirSync(fs.dir), ['filler']);
  });

  it('does not write through a symlink planted at the tombstone path', () => {
    const victim = join(tempDir(), 'victim');
    writeFileSync(victim, 'precious, and long enough to take a tombstone\n');
    const fs = fullTmpfs((dir) => symlinkSync(victim, join(dir, 'app')));
    assert.throws(
      () => new Graveyard(fs.dir).write('app', { born: BORN }),
      (err) => err instanceof TombstoneWriteError && err.code === 'ENOSPC',
    );
    assert.equal(readFileSync(victim, 'utf8'), 'precious, and long enough to take a tombstone\n');
    assert.ok(lstatSync(join(fs.dir, 'app')).isSymbolicLink());
  });

  it('does not open a FIFO planted at the tombstone path (no hang, no write)', () => {
    const fs = fullTmpfs((dir) => execFileSync('mkfifo', [join(dir, 'app')]));
    assert.throws(
      () => new Graveyard(fs.dir).write('app', { born: BORN }),
      (err) => err instanceof TombstoneWriteError && /not a regular file/.test(err.message),
    );
    assert.ok(lstatSync(join(fs.dir, 'app')).isFIFO());
  });

  // A shrink (ftruncate) zeroes the page's tail: a read that took the size before it and the
  // bytes after it ends in NULs (tmpfs, seen under load). The bytes before them are a whole
  // tombstone, and the shrink's own inotify event makes a watcher read again.
  it('a reader polling during 2,000 rewrites in place never sees an empty or partial tombstone', async () => {
    const fs = fullTmpfs((dir) => writeFileSync(join(dir, 'app'), formatTombstone({ born: BORN })));
    const done = join(tempDir(), 'writer-done');
    const module = new URL('../src/supervisor/graveyard.js', import.meta.url).href;
    // A real second process writes, as this container's kubexit would.
    const writer = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { Graveyard } from ${JSON.stringify(module)};
         import { writeFileSync } from 'node:fs';
         const g = new Graveyard(${JSON.stringify(fs.dir)});
         for (let i = 0; i < 2000; i++) {
           g.write('app', i % 2
             ? { born: ${JSON.stringify(BORN)}, died: ${JSON.stringify(DIED)}, exitCode: i }
             : { born: ${JSON.stringify(BORN)} });
         }
         writeFileSync(${JSON.stringify(done)}, '');`,
      ],
      { stdio: 'inherit' },
    );
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    let reads = 0;
    await new Promise<void>((resolve, reject) => {
      const poll = (): void => {
        for (let i = 0; i < 200; i++, reads++) {
          const text = readOnce(join(fs.dir, 'app')).replace(/\0+$/, '');
          if (!TOMBSTONE.test(text)) return reject(new Error(`torn read: ${JSON.stringify(text)}`));
        }
        if (existsSync(done)) resolve();
        else setImmediate(poll);
      };
      poll();
    });
    assert.equal(await exited, 0);
    assert.ok(reads > 200, `the reader raced the writer (${reads} reads)`);
    assert.deepEqual(readdirSync(fs.dir).sort(), ['app', 'filler']);
  });
});

describe('a tombstone path that cannot be written', () => {
  it('a directory there: EISDIR, with a hint', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'app'));
    const err = catchError(() => new Graveyard(dir).write('app', { born: BORN }));
    assert.ok(err instanceof TombstoneWriteError, String(err));
    assert.equal(err.code, 'EISDIR');
    assert.match(err.fields.hint, /KUBEXIT_NAME/);
    assert.ok(lstatSync(join(dir, 'app')).isDirectory());
  });

  it('a missing graveyard is created, as before', () => {
    const dir = join(tempDir(), 'a', 'b');
    new Graveyard(dir).write('app', { born: BORN });
    assert.equal(readFileSync(join(dir, 'app'), 'utf8'), formatTombstone({ born: BORN }));
  });
});

/**
 * One read(2), as a bounded tombstone reader does. A read loop can glue the start of one version
 * to the end of a later, longer one: in place, only a one-call read is a snapshot.
 */
function readOnce(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4096);
    return buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

function catchError(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('did not throw');
}
