// A tombstone records one container's life: Born when its child started, Died and ExitCode
// when it ended. The bytes match what Go kubexit writes, so Go and TypeScript kubexits can
// share a graveyard; reading is as lenient as Go's decoder.

export interface Tombstone {
  born?: string;
  died?: string;
  exitCode?: number;
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
 * Our own keys follow, so the Go part stays byte for byte the same.
 */
export function formatTombstone(t: Tombstone & TombstoneEnding): string {
  let out = '';
  if (t.born !== undefined) out += `Born: "${t.born}"\n`;
  if (t.died !== undefined) out += `Died: "${t.died}"\n`;
  if (t.exitCode !== undefined) out += `ExitCode: ${t.exitCode}\n`;
  if (t.childExitCode !== undefined) out += `ChildExitCode: ${t.childExitCode}\n`;
  if (t.childSignal !== undefined) out += `ChildSignal: ${t.childSignal}\n`;
  // A YAML double-quoted string: names hold no control characters, only these need escaping.
  if (t.reason !== undefined) out += `Reason: "${t.reason.replace(/[\\"]/g, '\\$&')}"\n`;
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
  `^(?:Born: "(${TIME})"\n)?(?:Died: "(${TIME})"\n)?(?:ExitCode: (-?\\d{1,10})\n)?${ENDING}$`,
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
  return t;
}
