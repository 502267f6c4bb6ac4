// A faster reader of YAML sources for lint, which needs positions but never writes YAML back.
// The yaml library keeps everything inject needs (comments, formatting) and reads about 0.4 MB
// a second here; js-yaml (already bundled for kubeconfig files) is ~5x faster but gives plain
// values. Its listener reports where each node opens and closes, which is enough to rebuild the
// yaml library's nodes with their ranges, so every rule works on one kind of node. Anything the
// rebuild is unsure of (an error, an alias, a count that doesn't add up) falls back to the yaml
// library for that source, which also words YAML errors the same way everywhere.
import { CORE_SCHEMA, loadAll, type State } from 'js-yaml';
import { Document, LineCounter, Pair, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';
import { parseSource, type Source } from '../manifest.js';

interface Frame {
  start: number;
  end: number;
  kind: string | null;
  result: unknown;
  children: Frame[];
}

class Unsure extends Error {}

export function parseSourceFast(path: string, text: string): Source {
  try {
    return rebuild(path, text);
  } catch {
    return parseSource(path, text);
  }
}

function rebuild(path: string, text: string): Source {
  const roots: Frame[] = [];
  const stack: Frame[] = [];
  loadAll(text, () => undefined, {
    schema: CORE_SCHEMA,
    listener(event: 'open' | 'close', state: State) {
      if (event === 'open') {
        stack.push({ start: state.position, end: 0, kind: null, result: undefined, children: [] });
        return;
      }
      const frame = stack.pop() as Frame;
      frame.end = state.position;
      frame.kind = state.kind;
      frame.result = state.result;
      (stack.at(-1)?.children ?? roots).push(frame);
    },
  });
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
  const docs = roots.map((root) => {
    const doc = new Document(null) as Document.Parsed;
    doc.contents = toNode(text, root) as Document.Parsed['contents'];
    return doc;
  });
  return { path, text, docs, lines };
}

/** A node as the yaml library would have composed it, with the range it starts at. */
function toNode(text: string, frame: Frame): Node {
  // A node with properties (a tag, an anchor) opens twice at about the same place.
  while (frame.children.length === 1 && frame.children[0]?.result === frame.result)
    frame = frame.children[0] as Frame;
  const start = skipBlank(text, frame.start);
  const { result, children } = frame;
  let node: Node;
  if (frame.kind === 'mapping') {
    const size = Object.keys(result as object).length;
    // A block mapping ends with an empty attempt at one more key.
    const last = children.at(-1);
    const pairs =
      children.length === 2 * size + 1 && last?.kind === null && last.start === last.end
        ? children.slice(0, -1)
        : children;
    if (pairs.length !== 2 * size) throw new Unsure();
    const map = new YAMLMap();
    for (let i = 0; i < pairs.length; i += 2)
      map.items.push(
        new Pair(toNode(text, pairs[i] as Frame), toNode(text, pairs[i + 1] as Frame)),
      );
    node = map;
  } else if (frame.kind === 'sequence') {
    if (children.length !== (result as unknown[]).length) throw new Unsure();
    const seq = new YAMLSeq();
    for (const child of children) seq.items.push(toNode(text, child));
    node = seq;
  } else {
    // An alias stands for a node defined elsewhere: rare in manifests, left to the library.
    if (result !== null && typeof result === 'object') throw new Unsure();
    node = new Scalar(result);
  }
  node.range = [start, Math.max(start, frame.end), Math.max(start, frame.end)];
  return node;
}

/**
 * Past spaces, line breaks, comments, and a tag or anchor: where the node's own text begins,
 * as the yaml library places it.
 */
function skipBlank(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) i++;
    else if (c === 35 || c === 33 || c === 38) {
      // "#" skips to the line's end; "!" (a tag) and "&" (an anchor) to the next blank.
      if (c === 35) {
        const eol = text.indexOf('\n', i);
        if (eol < 0) return text.length;
        i = eol;
      } else while (i < text.length && !/[ \t\r\n]/.test(text[i] as string)) i++;
    } else return i;
  }
}
