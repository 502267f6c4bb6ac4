// Reading other containers' tombstones. Kept apart from tombstone.ts so that the YAML library
// is loaded only by kubexits that have death dependencies to read.
import { parse as parseYaml } from 'yaml';
import { isRfc3339 } from './clock.js';
import type { Tombstone } from './tombstone.js';

export class TombstoneSyntaxError extends Error {}

/**
 * Reads a tombstone like Go's sigs.k8s.io/yaml decoder does: keys match case-insensitively,
 * unknown keys are ignored, null means unset, an empty file is a living container.
 */
export function parseTombstone(text: string): Tombstone {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new TombstoneSyntaxError(`not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new TombstoneSyntaxError('not a YAML mapping');
  }
  const t: Tombstone = {};
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    switch (key.toLowerCase()) {
      case 'born':
        t.born = timestamp(key, value);
        break;
      case 'died':
        t.died = timestamp(key, value);
        break;
      case 'exitcode':
        t.exitCode = exitCode(key, value);
        break;
      case 'ready':
        // Go kubexit v0.1.0 wrote `Ready: false`: only a time says ready; anything else is
        // ignored, as Go's later readers ignore the key.
        if (typeof value === 'string' && isRfc3339(value)) t.ready = value;
        break;
      case 'birthdeps':
        if (typeof value === 'string') t.birthDeps = value;
        break; // anything else: not ours to judge, and no reason to ignore the rest
    }
  }
  return t;
}

function timestamp(key: string, value: unknown): string | undefined {
  if (value === null) return undefined;
  if (typeof value === 'string' && isRfc3339(value)) return value;
  throw new TombstoneSyntaxError(`${key}: want an RFC 3339 time, got ${JSON.stringify(value)}`);
}

function exitCode(key: string, value: unknown): number | undefined {
  if (value === null) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw new TombstoneSyntaxError(`${key}: want an integer, got ${JSON.stringify(value)}`);
}
