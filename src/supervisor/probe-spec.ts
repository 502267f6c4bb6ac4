// KUBEXIT_READY_PROBE, parsed: what to probe, and nothing that needs a socket. Kept apart from
// probe.ts so that reading the configuration never loads node:net or node:http.

export type ProbeSpec =
  | { kind: 'tcp'; host: string; port: number }
  /** http: or https:, with the URL as given (path and query included). */
  | { kind: 'http'; url: string }
  /** A program and its arguments, run without a shell. */
  | { kind: 'exec'; argv: string[] };

export const PROBE_FORM =
  'tcp://host:port, http://host[:port]/path, https://host[:port]/path, or exec:<command> [args…] ' +
  '(split on spaces; quote with \'…\' or "…"; no shell unless the command is one)';

/** The probe, or what is wrong with the text (a string). */
export function parseProbe(text: string): ProbeSpec | string {
  if (text.startsWith('exec:')) {
    const argv = splitWords(text.slice('exec:'.length));
    if (typeof argv === 'string') return argv;
    if (argv.length === 0) return 'no command after exec:';
    return { kind: 'exec', argv };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL, nor exec:<command>';
  }
  switch (url.protocol) {
    case 'tcp:': {
      // For a scheme URL does not know, an IPv6 host keeps its brackets.
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      if (host === '') return 'no host';
      if (url.port === '' || url.port === '0') return 'no port';
      if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '')
        return 'a tcp probe is only host:port';
      return { kind: 'tcp', host, port: Number(url.port) };
    }
    case 'http:':
    case 'https:':
      if (url.hostname === '') return 'no host';
      return { kind: 'http', url: url.href };
    default:
      return `unknown scheme ${JSON.stringify(url.protocol.slice(0, -1))}`;
  }
}

/**
 * Words as a shell splits them, without any of its expansions: spaces separate, '…' is taken
 * as is, "…" and a bare \ escape the next character.
 */
export function splitWords(text: string): string[] | string {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return "an unclosed ' quote";
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word ??= '';
      for (i++; ; i++) {
        if (i >= text.length) return 'an unclosed " quote';
        const d = text[i] as string;
        if (d === '"') break;
        if (d === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) i++;
        word += text[i];
      }
    } else if (c === '\\') {
      if (i + 1 >= text.length) return 'a \\ at the end';
      word = (word ?? '') + text[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** As the configuration log shows it. */
export function probeText(p: ProbeSpec): string {
  switch (p.kind) {
    case 'tcp':
      return `tcp://${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port}`;
    case 'http':
      return p.url;
    case 'exec':
      return `exec:${p.argv.map((a) => (/[\s'"\\]/.test(a) || a === '' ? JSON.stringify(a) : a)).join(' ')}`;
  }
}
