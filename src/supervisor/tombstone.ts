// A tombstone records one container's life: Born when its child started, Died and ExitCode
// when it ended. The bytes match what Go kubexit writes, so Go and TypeScript kubexits can
// share a graveyard; reading is as lenient as Go's decoder.

export interface Tombstone {
  born?: string;
  died?: string;
  exitCode?: number;
  /** When the child first passed its readiness probe, or started when it has none. */
  ready?: string;
  /** The writer's own birth dependencies (`a,b:started`), so waiters can see a cycle. */
  birthDeps?: string;
}

/**
 * Go's shape: JSON-to-YAML of the struct, so keys sorted, unset keys absent, quoted times. Keys
 * Go doesn't know come after Go's (its reader ignores them), so Go's bytes stay a prefix.
 */
export function formatTombstone(t: Tombstone): string {
  let out = '';
  if (t.born !== undefined) out += `Born: "${t.born}"\n`;
  if (t.died !== undefined) out += `Died: "${t.died}"\n`;
  if (t.exitCode !== undefined) out += `ExitCode: ${t.exitCode}\n`;
  if (t.ready !== undefined) out += `Ready: "${t.ready}"\n`;
  // A JSON string is a YAML double-quoted scalar; names hold no control characters.
  if (t.birthDeps !== undefined) out += `BirthDeps: ${JSON.stringify(t.birthDeps)}\n`;
  return out === '' ? '{}\n' : out;
}

/** The compact JSON form Go kubexit logs as `Tombstone(<name>): {...}`. */
export function tombstoneJson(t: Tombstone): string {
  return JSON.stringify({ Born: t.born, Died: t.died, ExitCode: t.exitCode });
}

export function isDead(t: Tombstone): boolean {
  return t.died !== undefined;
}

const TIME = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)`;
const CANONICAL = new RegExp(
  `^(?:Born: "(${TIME})"\n)?(?:Died: "(${TIME})"\n)?(?:ExitCode: (-?\\d{1,10})\n)?` +
    `(?:Ready: "(${TIME})"\n)?(?:BirthDeps: "([-a-z0-9:,]*)"\n)?$`,
);

/**
 * The exact shape Go and TypeScript kubexits write, decoded without the YAML library: the
 * death path stays fast and light. Anything else returns undefined: ask parseTombstone.
 */
export function parseCanonical(text: string): Tombstone | undefined {
  if (text === '{}\n') return {}; // Go's empty tombstone, our placeholder until Born
  const m = CANONICAL.exec(text);
  if (!m) return undefined;
  const t: Tombstone = {};
  if (m[1] !== undefined) t.born = m[1];
  if (m[2] !== undefined) t.died = m[2];
  if (m[3] !== undefined) t.exitCode = Number(m[3]);
  if (m[4] !== undefined) t.ready = m[4];
  if (m[5] !== undefined) t.birthDeps = m[5];
  return t;
}
