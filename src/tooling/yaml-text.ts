// A changed YAML document written back as close to its source as the `yaml` library allows:
// the source's sequence indentation and flow-collection padding, comments on a key's own line,
// and the document's trailing comments and end marker taken verbatim from the source.
import { isCollection, isMap, isScalar, visit, type Document, type ToStringOptions } from 'yaml';

/**
 * The text of `doc` (parsed from `source`, then changed), to stand for the source's text of
 * that document from `begin` to `end` (where the next document begins).
 */
export function documentText(
  doc: Document.Parsed,
  source: string,
  begin: number,
  end: number,
): string {
  const [start, valueEnd] = doc.range;
  const json = jsonText(doc, source, start, valueEnd);
  if (json !== undefined) {
    const indent = /^\{\n( *)"/.exec(json.text)?.[1]?.length ?? 0;
    const body = JSON.stringify(doc.toJSON(), null, indent);
    return source.slice(begin, json.at) + body + '\n' + source.slice(valueEnd, end);
  }
  keepKeyLineComments(doc, source);
  const { comment } = doc;
  const docEnd = doc.directives.docEnd;
  // What follows the content (trailing comments, blank lines, "...") is written as it was.
  doc.comment = null;
  doc.directives.docEnd = false;
  try {
    return doc.toString(styleOf(doc, source)) + source.slice(valueEnd, end);
  } finally {
    doc.comment = comment;
    doc.directives.docEnd = docEnd;
  }
}

/** JSON in (kubectl get -o json), JSON out: where the JSON text is, if the document is JSON. */
function jsonText(
  doc: Document.Parsed,
  source: string,
  start: number,
  valueEnd: number,
): { at: number; text: string } | undefined {
  if (!isMap(doc.contents) || !doc.contents.flow) return undefined;
  const at = source.indexOf('{', start);
  if (at < 0 || at >= valueEnd) return undefined;
  const text = source.slice(at, valueEnd);
  try {
    // Only real JSON: YAML flow style (anchors, aliases, comments) is written as YAML.
    JSON.parse(text);
  } catch {
    return undefined;
  }
  return { at, text };
}

/** How the document was written: the options that make `toString` write it alike. */
function styleOf(doc: Document.Parsed, source: string): ToStringOptions {
  const [start, , end] = doc.range;
  const text = source.slice(start, end);
  // "key:\n  - item" (prettier, hand-written) or "key:\n- item" (kubectl, kustomize).
  const seq = /^( *)[^\s#-][^\n]*:[ \t]*\n( *)- /m.exec(text);
  const indentSeq = seq === null || (seq[2] as string).length > (seq[1] as string).length;
  // "[a, b]" or "[ a, b ]": whichever the document uses for non-empty flow collections.
  const padded = text.match(/[[{] [^\s\]}]/g)?.length ?? 0;
  const tight = text.match(/[[{][^\s\]}]/g)?.length ?? 0;
  // lineWidth 0: a long value stays on its line, as it was.
  return { indentSeq, flowCollectionPadding: padded > tight, lineWidth: 0 };
}

/**
 * `key: # note` above a block collection: the library keeps the note before the collection's
 * first line; put its first line back on the key's line.
 */
function keepKeyLineComments(doc: Document.Parsed, source: string): void {
  visit(doc, {
    Pair(_, pair) {
      const { key, value } = pair;
      if (!isScalar(key) || !isCollection(value) || value.flow === true) return;
      if (!value.commentBefore || key.comment || !key.range || !value.range) return;
      const between = source.slice(key.range[1], value.range[0]);
      const firstLine = between.split('\n', 1)[0] as string;
      if (!firstLine.includes('#')) return;
      const [first, ...rest] = value.commentBefore.split('\n');
      key.comment = first as string;
      value.commentBefore = rest.length > 0 ? rest.join('\n') : null;
    },
  });
}
