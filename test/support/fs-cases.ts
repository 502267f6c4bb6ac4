// Run under Bun by test/fs-seam.test.ts: every case once through src/platform/fs.ts (libc, under
// Bun) and once through node:fs, printed as one JSON line: the test compares them.
// Usage: bun build/test/support/fs-cases.js <empty folder>
import * as node from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as seam from '../../src/platform/fs.js';

type Api = Pick<
  typeof seam,
  | 'openSync'
  | 'closeSync'
  | 'readSync'
  | 'writeSync'
  | 'fstatSync'
  | 'statSync'
  | 'lstatSync'
  | 'renameSync'
  | 'unlinkSync'
  | 'mkdirSync'
  | 'chmodSync'
  | 'ftruncateSync'
  | 'readlinkSync'
  | 'constants'
>;

const dir = process.argv[2] as string;
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY, O_APPEND } =
  node.constants;

const stat = (s: seam.FileStats): Record<string, unknown> => ({
  dev: s.dev,
  ino: s.ino,
  mode: s.mode,
  size: s.size,
  ctimeMs: Math.floor(s.ctimeMs),
  kinds: [
    s.isFile(),
    s.isDirectory(),
    s.isSymbolicLink(),
    s.isFIFO(),
    s.isSocket(),
    s.isCharacterDevice(),
    s.isBlockDevice(),
  ],
});

/** The fixtures every case runs against, made afresh for each API in `root`. */
function fixtures(root: string): void {
  node.rmSync(root, { recursive: true, force: true });
  node.mkdirSync(`${root}/folder`, { recursive: true });
  node.writeFileSync(`${root}/file`, 'Born: "2026-01-01T00:00:00Z"\n');
  node.symlinkSync('file', `${root}/link`);
  node.symlinkSync('loop', `${root}/loop`);
  execFileSync('mkfifo', [`${root}/fifo`]);
  node.writeFileSync(`${root}/readonly`, 'x');
  node.chmodSync(`${root}/readonly`, 0o444);
}

/** Each case: what it returns, or the error's fields. Paths are relative to the fixtures. */
function cases(fs: Api, root: string): Record<string, unknown> {
  const at = (p: string): string => `${root}/${p}`;
  const out: Record<string, unknown> = {};
  const run = (name: string, f: () => unknown): void => {
    try {
      out[name] = {
        ok: JSON.parse(
          JSON.stringify(f() ?? null)
            .split(root)
            .join('<root>'),
        ),
      };
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { dest?: string };
      const hide = (v: string | undefined): string | undefined => v?.split(root).join('<root>');
      out[name] = {
        error: {
          code: err.code,
          errno: err.errno,
          syscall: err.syscall,
          path: hide(err.path),
          dest: hide(err.dest),
          message: hide(err.message),
        },
      };
    }
  };
  const readAll = (path: string, flags: number): string => {
    const fd = fs.openSync(path, flags);
    try {
      const buf = Buffer.alloc(100);
      const n = fs.readSync(fd, buf, 2, 50, 0);
      const m = fs.readSync(fd, buf, 0, 5, null);
      return `${n}:${buf.toString('utf8', 2, 2 + n)}|${m}:${buf.toString('utf8', 0, m)}`;
    } finally {
      fs.closeSync(fd);
    }
  };
  const keep = (s: seam.FileStats): Record<string, unknown> => {
    const r = stat(s);
    delete r.ino; // made afresh per API: compared through kinds, mode and size
    delete r.ctimeMs;
    delete r.dev;
    return r;
  };
  run('read a file', () => readAll(at('file'), O_RDONLY | O_NONBLOCK | O_NOFOLLOW));
  run('read a FIFO without a writer', () => readAll(at('fifo'), O_RDONLY | O_NONBLOCK));
  run('open missing', () => fs.openSync(at('missing'), O_RDONLY));
  run('open below a file', () => fs.openSync(at('file/x'), O_RDONLY));
  run('open a symlink, no follow', () => fs.openSync(at('link'), O_RDONLY | O_NOFOLLOW));
  run('open a loop', () => fs.openSync(at('loop'), O_RDONLY));
  run('open a folder to write', () => fs.openSync(at('folder'), O_WRONLY));
  run('open a file as a folder', () => fs.openSync(at('file'), O_RDONLY | O_DIRECTORY));
  run('create exclusive over a file', () =>
    fs.openSync(at('file'), O_WRONLY | O_CREAT | O_EXCL, 0o666),
  );
  run('a name too long', () => fs.openSync(at('x'.repeat(300)), O_RDONLY));
  run('a NUL in the path', () => fs.openSync(at('fi\0le'), O_RDONLY));
  run('write, pwrite, append', () => {
    const fd = fs.openSync(at('new'), O_WRONLY | O_CREAT | O_EXCL, 0o640);
    const a = fs.writeSync(fd, Buffer.from('hello world'), 6);
    const b = fs.writeSync(fd, Buffer.from('HELLO'), 1, 3, 10);
    fs.ftruncateSync(fd, 12);
    fs.closeSync(fd);
    const fd2 = fs.openSync(at('new'), O_WRONLY | O_APPEND);
    const c = fs.writeSync(fd2, Buffer.from('!'));
    fs.closeSync(fd2);
    return [a, b, c, node.readFileSync(at('new'), 'latin1'), keep(fs.lstatSync(at('new')))];
  });
  run('write to a closed fd', () => fs.writeSync(999, Buffer.from('x')));
  run('write to a descriptor open for reading', () => {
    const fd = fs.openSync(at('readonly'), O_RDONLY);
    try {
      return fs.writeSync(fd, Buffer.from('x'));
    } finally {
      fs.closeSync(fd);
    }
  });
  run('stat kinds', () =>
    ['file', 'folder', 'link', 'fifo', '.'].map((p) => [
      keep(fs.lstatSync(at(p))),
      keep(fs.statSync(at(p))),
    ]),
  );
  run('stat a loop', () => fs.statSync(at('loop')));
  run('lstat missing', () => fs.lstatSync(at('missing')));
  run('fstat', () => {
    const fd = fs.openSync(at('file'), O_RDONLY);
    try {
      return keep(fs.fstatSync(fd));
    } finally {
      fs.closeSync(fd);
    }
  });
  run('fstat a closed fd', () => fs.fstatSync(999));
  run('rename', () => {
    fs.renameSync(at('file'), at('renamed'));
    return node.readFileSync(at('renamed'), 'utf8');
  });
  run('rename missing', () => fs.renameSync(at('missing'), at('other')));
  run('rename a folder over a file', () => fs.renameSync(at('folder'), at('readonly')));
  run('unlink', () => fs.unlinkSync(at('fifo')));
  run('unlink a folder', () => fs.unlinkSync(at('folder')));
  run('mkdir', () => fs.mkdirSync(at('made')));
  run('mkdir existing', () => fs.mkdirSync(at('folder')));
  run('mkdir -p', () => [
    fs.mkdirSync(at('a/b/c'), { recursive: true }),
    fs.mkdirSync(at('a/b/c'), { recursive: true }),
    fs.mkdirSync(at('a/b/c/'), { recursive: true }),
    keep(fs.statSync(at('a/b/c'))),
  ]);
  run('mkdir -p over a file', () => fs.mkdirSync(at('readonly'), { recursive: true }));
  run('mkdir -p over a symlink that cannot be followed', () =>
    fs.mkdirSync(at('loop'), { recursive: true }),
  );
  run('mkdir -p below a file', () => fs.mkdirSync(at('readonly/x/y'), { recursive: true }));
  run('chmod', () => {
    fs.chmodSync(at('readonly'), 0o600);
    return keep(fs.statSync(at('readonly')));
  });
  run('chmod missing', () => fs.chmodSync(at('missing'), 0o600));
  run('readlink', () => [fs.readlinkSync(at('link')), fs.readlinkSync(at('loop'))]);
  run('readlink a file', () => fs.readlinkSync(at('readonly')));
  run('identity: the same file, both APIs', () => {
    const a = fs.lstatSync(at('readonly'));
    const b = node.lstatSync(at('readonly'));
    return [a.ino === b.ino, a.dev === b.dev, Math.abs(a.ctimeMs - b.ctimeMs) < 1];
  });
  return out;
}

const results: Record<string, Record<string, unknown>> = {};
for (const [name, api] of [
  ['seam', seam],
  ['node', node],
] as const) {
  const root = `${dir}/${name}`;
  fixtures(root);
  results[name] = cases(api as unknown as Api, root);
}
// O_* values are the kernel's: the seam's own must be Node's.
const flags = Object.keys(seam.constants) as (keyof typeof seam.constants)[];
console.log(
  JSON.stringify({
    backend: seam.backend,
    constants: flags.filter((k) => seam.constants[k] !== node.constants[k]),
    ...results,
  }),
);
