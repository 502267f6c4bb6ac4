// src/supervisor/paths.ts stands in for node:path on the executable's start-up path: it must give
// exactly what node:path's posix functions give, on any path.
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  baseName,
  joinPath,
  normalizePath,
  parentPath,
  relativePath,
} from '../src/supervisor/paths.js';

const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 1000) };
/** Paths made of the characters that matter to a path: slashes, dots, and a few names. */
const path = fc
  .array(fc.constantFrom('/', '/', '.', '..', 'a', 'b', 'kubexit', ' ', '.a'), { maxLength: 10 })
  .map((parts) => parts.join(''));

describe('paths: the same answers as node:path (posix)', () => {
  it('normalizePath is posix.normalize', () => {
    fc.assert(
      fc.property(path, (p) => assert.equal(normalizePath(p), posix.normalize(p), p)),
      RUNS,
    );
  });

  it('joinPath is posix.join of two parts', () => {
    fc.assert(
      fc.property(path, path, (a, b) =>
        assert.equal(joinPath(a, b), posix.join(a, b), `${a} ${b}`),
      ),
      RUNS,
    );
  });

  it('baseName is posix.basename', () => {
    fc.assert(
      fc.property(path, (p) => assert.equal(baseName(p), posix.basename(p), p)),
      RUNS,
    );
  });

  it('parentPath is posix.dirname', () => {
    fc.assert(
      fc.property(path, (p) => assert.equal(parentPath(p), posix.dirname(p), p)),
      RUNS,
    );
  });

  it('relativePath is posix.relative, relative paths taken from the working folder', () => {
    fc.assert(
      fc.property(path, path, (a, b) =>
        assert.equal(relativePath(a, b), posix.relative(a, b), `${a} ${b}`),
      ),
      RUNS,
    );
  });

  it('the graveyard paths kubexit builds', () => {
    assert.equal(joinPath('/graveyard', 'main'), '/graveyard/main');
    assert.equal(joinPath('/', 'main'), '/main');
    assert.equal(joinPath('.', '.main.alive'), '.main.alive');
    assert.equal(parentPath('/graveyard'), '/');
    assert.equal(parentPath('/'), '/');
    assert.equal(relativePath('/', '/a/b/graveyard').split('/')[0], 'a');
  });
});
