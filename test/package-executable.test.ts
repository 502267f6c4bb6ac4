// The x64 executable on this machine: version, what it must not pick up from its surroundings,
// and `kubexit install`. Running in other roots: package-roots.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readElf } from '../src/tooling/install.js';
import { ROOT } from './support/kubexit.js';
import { requires } from './support/requires.js';
import { executable, needExecutables, run } from './support/roots.js';
import { tempDir } from './support/temp.js';

const X64 = executable('linux-x64');
const skip = requires('exe', () => needExecutables('linux-x64'));
const version = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

describe('the x64 executable', { skip }, () => {
  it('--version', () => {
    assert.deepEqual(run(X64, ['--version']), {
      code: 0,
      stdout: `kubexit ${version}\n`,
      stderr: '',
    });
  });

  it('a .env or bunfig.toml in the working folder changes nothing', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, '.env'), 'LEAKED=yes\nKUBEXIT_NAME=from-dotenv\n');
    writeFileSync(join(cwd, 'bunfig.toml'), 'preload = ["./nope.js"]\n');
    writeFileSync(join(cwd, 'nope.js'), 'console.log("PRELOADED")\n');
    const graveyard = tempDir();
    const r = run(
      'sh',
      ['-c', `cd "${cwd}" && exec "${X64}" sh -c 'echo "LEAKED=\${LEAKED-unset}"'`],
      {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        KUBEXIT_NAME: 'app',
        KUBEXIT_GRAVEYARD: graveyard,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'LEAKED=unset\n');
    assert.match(readFileSync(join(graveyard, 'app'), 'utf8'), /ExitCode: 0\n/);
  });

  it('BUN_OPTIONS in the environment is still read by the runtime (documented limitation)', () => {
    // No build switch turns this off in Bun 1.4; whoever sets a container's environment also
    // sets its command, so this is no privilege boundary. This test notices if that changes.
    const dir = tempDir();
    writeFileSync(join(dir, 'pre.js'), 'process.stdout.write("preloaded\\n");\n');
    const r = run(X64, ['--version'], { BUN_OPTIONS: `--preload=${join(dir, 'pre.js')}` });
    assert.equal(r.stdout, `preloaded\nkubexit ${version}\n`);
  });

  it('install <dir>: the executable (0755), its loader and libraries, pointed at /kubexit', () => {
    const dir = join(tempDir(), 'volume');
    mkdirSync(dir);
    for (let i = 0; i < 2; i++) {
      const r = run(X64, ['install', dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^installed .*\/kubexit with .*libc\.so\.6/);
    }
    assert.equal(statSync(join(dir, 'kubexit')).mode & 0o777, 0o755);
    assert.equal(statSync(join(dir, 'kubexit')).size, statSync(X64).size);
    assert.equal(readElf(join(dir, 'kubexit')).interp, '/kubexit/ld');
    assert.equal(readElf(join(dir, 'ld')).soname, 'ld-linux-x86-64.so.2');
    for (const lib of ['libc.so.6', 'libm.so.6']) assert.ok(statSync(join(dir, 'lib', lib)).size);
    assert.equal(readElf(X64).interp, '/lib64/ld-linux-x86-64.so.2', 'the original is untouched');
  });

  it('install refuses without exactly one folder, and from node', () => {
    const graveyard = tempDir();
    const two = run(X64, ['install', tempDir(), 'extra'], {
      PATH: '/nonexistent',
      KUBEXIT_NAME: 'x',
      KUBEXIT_GRAVEYARD: graveyard,
    });
    assert.equal(two.code, 127, 'two arguments: `install` is the command to run (none here)');
    assert.match(two.stderr, /kubexit initialized/);
    const fromNode = run(process.execPath, [
      join(ROOT, 'dist', 'kubexit.js'),
      'install',
      tempDir(),
    ]);
    assert.equal(fromNode.code, 1);
    assert.match(fromNode.stderr, /install works from the packaged executable/);
  });
});
