// The JSONPatch (RFC 6902) an admission webhook answers with: from the pod as it came to the pod
// as the mutation left it. Whole fields are replaced two levels down (/spec/containers,
// /metadata/labels), which keeps the patch short and exact without a general diff.

export type PatchOp =
  { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** How deep the patch looks into objects before it replaces what differs whole. */
const DEPTH = 2;

/** The operations that turn `before` into `after` (both plain JSON objects). */
export function jsonPatch(before: object, after: object): PatchOp[] {
  const ops: PatchOp[] = [];
  diff(before as Json, after as Json, '', 0, ops);
  return ops;
}

function diff(before: Json, after: Json, path: string, depth: number, ops: PatchOp[]): void {
  if (depth < DEPTH && isObject(before) && isObject(after)) {
    for (const key of Object.keys(before))
      if (!Object.hasOwn(after, key)) ops.push({ op: 'remove', path: `${path}/${escapeKey(key)}` });
    for (const [key, value] of Object.entries(after)) {
      const at = `${path}/${escapeKey(key)}`;
      if (!Object.hasOwn(before, key)) ops.push({ op: 'add', path: at, value });
      else diff(before[key] as Json, value, at, depth + 1, ops);
    }
    return;
  }
  if (!equal(before, after)) ops.push({ op: 'replace', path: path, value: after });
}

/** A JSON Pointer reference token: "~" and "/" escaped (RFC 6901). */
export function escapeKey(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep equality of JSON values; key order does not matter. */
function equal(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => equal(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.hasOwn(b, k) && equal(a[k], b[k]))
    );
  }
  return false;
}
