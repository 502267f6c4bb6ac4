import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TOMBSTONE_READ_CAP } from '../src/supervisor/graveyard-read.js';
import { Graveyard, OwnTombstone } from '../src/supervisor/graveyard.js';
import { formatTombstone } from '../src/supervisor/tombstone.js';
import { tempDir } from './support/temp.js';

const TOMBSTONE = /^Born: "[^"]+"\n(Died: "[^"]+"\nExitCode: -?\d+\n)?$/;

describe('graveyard', () => {
  it('creates a missing graveyard and writes the Go bytes', () => {
    const dir = join(tempDir(), 'deep', 'graveyard');
    const own = new OwnTombstone(new Graveyard(dir), 'app');
    own.born();
    assert.match(readFileSync(join(dir, 'app'), 'utf8'), /^Born: "[^"]+"\n$/);
    own.died(3);
    assert.match(
      readFileSync(join(dir, 'app'), 'utf8'),
      /^Born: "[^"]+"\nDied: "[^"]+"\nExitCode: 3\n$/,
    );
    assert.deepEqual(readdirSync(dir), ['app'], 'no temp file left behind');
  });

  it('reads a missing tombstone as none', () => {
    assert.deepEqual(new Graveyard(tempDir()).read('nobody'), { kind: 'none' });
  });

  it('reads a tombstone up to the cap, and nothing over it', () => {
    const dir = tempDir();
    const graveyard = new Graveyard(dir);
    const full = `Born: "2020-04-28T10:41:46Z"\n#${'x'.repeat(TOMBSTONE_READ_CAP - 31)}\n`;
    assert.equal(Buffer.byteLength(full), TOMBSTONE_READ_CAP);
    writeFileSync(join(dir, 'full'), full);
    assert.deepEqual(graveyard.read('full'), { kind: 'text', text: full });
    writeFileSync(join(dir, 'over'), `${full}x`);
    assert.deepEqual(graveyard.read('over'), {
      kind: 'ignored',
      problem: `larger than the ${TOMBSTONE_READ_CAP}-byte cap`,
      detail: `larger than the ${TOMBSTONE_READ_CAP}-byte cap (${TOMBSTONE_READ_CAP + 1} bytes), not read`,
    });
  });

  it('ignores, at once, whatever is not a regular file at a tombstone path', async () => {
    const dir = tempDir();
    const graveyard = new Graveyard(dir);
    assert.equal(spawnSync('mkfifo', [join(dir, 'fifo')]).status, 0);
    symlinkSync('/dev/zero', join(dir, 'zero'));
    const target = join(dir, 'target');
    writeFileSync(target, 'Born: "2020-04-28T10:41:46Z"\n');
    symlinkSync(target, join(dir, 'link'));
    mkdirSync(join(dir, 'dir'));
    const server = createServer().listen(join(dir, 'socket'));
    await once(server, 'listening');
    try {
      const problems = Object.fromEntries(
        ['fifo', 'zero', 'link', 'dir', 'socket'].map((name) => {
          const read = graveyard.read(name);
          assert.equal(read.kind, 'ignored', name);
          return [name, read.kind === 'ignored' ? read.detail : ''];
        }),
      );
      assert.deepEqual(problems, {
        fifo: 'a FIFO, not a regular file',
        zero: 'a symbolic link (to /dev/zero), not followed',
        link: `a symbolic link (to ${target}), not followed`,
        dir: 'a directory, not a regular file',
        socket: 'a socket, not a regular file',
      });
    } finally {
      server.close();
    }
  });

  it('a reader polling during 10,000 rewrites never sees a partial file', async () => {
    const dir = tempDir();
    const graveyard = new Graveyard(dir);
    graveyard.write('app', { born: '2020-04-28T10:41:46.9926314Z' });
    const done = join(dir, 'writer-done');
    const module = new URL('../src/supervisor/graveyard.js', import.meta.url).href;
    // A real second process writes, as another container would.
    const writer = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { Graveyard } from ${JSON.stringify(module)};
         import { writeFileSync } from 'node:fs';
         const g = new Graveyard(${JSON.stringify(dir)});
         for (let i = 0; i < 10000; i++) {
           g.write('app', i % 2
             ? { born: '2020-04-28T10:41:46.9926314Z', died: '2020-04-28T10:41:47.0496314Z', exitCode: i }
             : { born: '2020-04-28T10:41:46.9926314Z' });
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
          const text = readFileSync(join(dir, 'app'), 'utf8');
          if (!TOMBSTONE.test(text))
            return reject(new Error(`partial read: ${JSON.stringify(text)}`));
        }
        if (existsSync(done)) resolve();
        else setImmediate(poll);
      };
      poll();
    });
    assert.equal(await exited, 0);
    assert.ok(reads > 1000, `the reader raced the writer (${reads} reads)`);
    assert.deepEqual(readdirSync(dir).sort(), ['app', 'writer-done']);
  });

  it('does not follow a symlink planted at the tombstone path', () => {
    const dir = tempDir();
    const victim = join(tempDir(), 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, 'app'));
    new Graveyard(dir).write('app', { born: '2020-04-28T10:41:46Z' });
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.ok(lstatSync(join(dir, 'app')).isFile());
    assert.equal(
      readFileSync(join(dir, 'app'), 'utf8'),
      formatTombstone({ born: '2020-04-28T10:41:46Z' }),
    );
  });

  it('reports a write that cannot happen', () => {
    const file = join(tempDir(), 'not-a-folder');
    writeFileSync(file, '');
    assert.throws(() => new Graveyard(file).write('app', { born: 'x' }), /EEXIST|ENOTDIR/);
  });
});
