// src/platform/fs.ts calls libc under Bun instead of node:fs: each of its functions must give
// what node:fs gives there (results, and errors with their code, errno, syscall, path and
// message). The cases run under the Bun runtime the executable is built from, through both.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { backend } from '../src/platform/fs.js';
import { tempDir } from './support/temp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUN_PACKAGE = process.arch === 'arm64' ? 'bun-linux-aarch64' : 'bun-linux-x64';
const BUN = join(ROOT, 'scripts/runtimes/node_modules/@oven', BUN_PACKAGE, 'bin/bun');
const CASES = join(ROOT, 'build/test/support/fs-cases.js');

interface Report {
  backend: string;
  constants: string[];
  seam: Record<string, unknown>;
  node: Record<string, unknown>;
}

describe('fs seam: libc under Bun answers as node:fs', () => {
  it('under Node, it is node:fs itself', () => {
    assert.equal(backend, 'node:fs');
  });

  const skip = existsSync(BUN) ? false : `no Bun runtime at ${BUN} (scripts/ensure-deps.sh)`;
  it(
    'under Bun, every case gives node:fs results and errors, and the O_* flags are the kernel’s',
    { skip },
    () => {
      const out = execFileSync(BUN, [CASES, tempDir('kubexit-fs-')], {
        encoding: 'utf8',
        env: { ...process.env, BUN_OPTIONS: '' },
      });
      const report = JSON.parse(out) as Report;
      assert.equal(report.backend, 'libc');
      assert.deepEqual(report.constants, []);
      assert.ok(Object.keys(report.seam).length >= 30);
      for (const [name, result] of Object.entries(report.node))
        assert.deepEqual(report.seam[name], result, name);
    },
  );
});
