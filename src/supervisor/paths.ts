// The few POSIX path operations the runtime needs, giving exactly what node:path's posix ones
// give (test/paths.test.ts checks that on arbitrary paths). Not node:path itself: under Bun it is
// a JavaScript module of its own, and loading it costs every start of the executable memory
// charged to the container (measured with bench/ab.ts).

/** posix.normalize: "." and ".." resolved lexically, repeated slashes joined, "" is ".". */
export function normalizePath(path: string): string {
  if (path === '') return '.';
  const absolute = path.startsWith('/');
  const trailing = path.endsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
      continue;
    }
    out.push(part);
  }
  let body = out.join('/');
  if (body === '' && !absolute) body = '.';
  if (body !== '' && trailing) body += '/';
  return absolute ? `/${body}` : body;
}

/** posix.join of two parts. */
export function joinPath(dir: string, name: string): string {
  if (dir === '' && name === '') return '.';
  if (dir === '') return normalizePath(name);
  if (name === '') return normalizePath(dir);
  return normalizePath(`${dir}/${name}`);
}

/** posix.basename: the last part, trailing slashes ignored. */
export function baseName(path: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === '/') end--;
  if (end === 0) return '';
  return path.slice(path.lastIndexOf('/', end - 1) + 1, end);
}

/** posix.dirname: all before the last part's separating slash, trailing slashes ignored. */
export function parentPath(path: string): string {
  if (path === '') return '.';
  const absolute = path.startsWith('/');
  let end = -1;
  let inName = false; // a character of the last part was seen, walking back
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] !== '/') inName = true;
    else if (inName) {
      end = i;
      break;
    }
  }
  if (end === -1) return absolute ? '/' : '.';
  if (absolute && end === 1) return '//';
  return path.slice(0, end);
}

/** posix.relative: the steps from `from` to `to`, both resolved against the working folder. */
export function relativePath(from: string, to: string): string {
  const parts = (p: string): string[] =>
    normalizePath(p.startsWith('/') ? p : `${process.cwd()}/${p}`)
      .split('/')
      .filter((s) => s !== '');
  const a = parts(from);
  const b = parts(to);
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return [...a.slice(common).map(() => '..'), ...b.slice(common)].join('/');
}
