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
 * How the child itself ended, written after Go's keys when an exit-code policy may make
 * ExitCode differ from it. Readers (Go's and ours) ignore these keys: decisions use ExitCode.
 */
export interface TombstoneEnding {
  childExitCode?: number;
  childSignal?: string;
  reason?: string;
}

/**
 * Go's shape: JSON-to-YAML of the struct, so keys sorted, unset keys absent, quoted times.
 * Keys Go doesn't know come after Go's (its reader ignores them), so Go's bytes stay a prefix.
 */
export function formatTombstone(t: Tombstone & TombstoneEnding): string {
  let out = '';
  if (t.born !== undefined) out += `Born: "${t.born}"\n`;
  if (t.died !== undefined) out += `Died: "${t.died}"\n`;
  if (t.exitCode !== undefined) out += `ExitCode: ${t.exitCode}\n`;
  if (t.ready !== undefined) out += `Ready: "${t.ready}"\n`;
  if (t.childExitCode !== undefined) out += `ChildExitCode: ${t.childExitCode}\n`;
  if (t.childSignal !== undefined) out += `ChildSignal: ${t.childSignal}\n`;
  // A YAML double-quoted string: names hold no control characters, only these need escaping.
  if (t.reason !== undefined) out += `Reason: "${t.reason.replace(/[\\"]/g, '\\$&')}"\n`;
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
// Our own keys after Go's, as formatTombstone writes them: accepted, not read.
const ENDING = String.raw`(?:ChildExitCode: -?\d{1,10}\n)?(?:ChildSignal: SIG[A-Z0-9]{1,10}\n)?(?:Reason: "(?:[^"\\\x00-\x1f\x7f]|\\[\\"])*"\n)?`;
const CANONICAL = new RegExp(
  `^(?:Born: "(${TIME})"\n)?(?:Died: "(${TIME})"\n)?(?:ExitCode: (-?\\d{1,10})\n)?` +
    `(?:Ready: "(${TIME})"\n)?${ENDING}(?:BirthDeps: "([-a-z0-9:,]*)"\n)?$`,
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
