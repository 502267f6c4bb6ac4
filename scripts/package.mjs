// Builds the side-loadable executables dist/bin/kubexit-linux-{x64,arm64}[-musl] with
// `bun build --compile`, offline: the Bun runtimes come from the @oven/bun-linux-* npm packages
// pinned in scripts/runtimes/ (installed with `npm ci --force` there, since npm refuses other
// platforms' packages otherwise).
//
// Flags that matter:
// - --no-compile-autoload-dotenv / --no-compile-autoload-bunfig: a .env or bunfig.toml in the
//   container's working folder must not change kubexit or leak into the child's environment.
// - --splitting --format=esm: code behind import() (the Kubernetes client, the YAML reader)
//   stays in its own module inside the executable and is evaluated only when imported.
// - --bytecode: start-up from precompiled bytecode (about 15 ms instead of 50 ms here).
// - --compile-jit-policy=20: JavaScriptCore's tier-up thresholds ×20. The supervisor's start-up
//   code runs a few times each, so the JIT stays idle: no JIT thread, no compiled code, a faster
//   start and some 0.1 MiB less charged to the container (bench/ab.ts). Code that runs often
//   is still compiled, later; the manifest tools set the policy back to 1 (main.ts).
// - never `strip` or `patchelf` the result: both move parts of the file and break it (patchelf
//   broke the arm64 one); `kubexit install` edits only bytes that stay in place.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const RUNTIMES = 'scripts/runtimes';
const TARGETS = [
  { name: 'linux-x64', bunTarget: 'bun-linux-x64', npm: '@oven/bun-linux-x64' },
  { name: 'linux-arm64', bunTarget: 'bun-linux-arm64', npm: '@oven/bun-linux-aarch64' },
  { name: 'linux-x64-musl', bunTarget: 'bun-linux-x64-musl', npm: '@oven/bun-linux-x64-musl' },
  {
    name: 'linux-arm64-musl',
    bunTarget: 'bun-linux-arm64-musl',
    npm: '@oven/bun-linux-aarch64-musl',
  },
];
const runtimeOf = (t) => join(RUNTIMES, 'node_modules', t.npm, 'bin', 'bun');

const only = process.argv.slice(2); // e.g. `npm run package -- linux-x64`
const targets = only.length > 0 ? TARGETS.filter((t) => only.includes(t.name)) : TARGETS;
if (targets.length === 0) throw new Error(`unknown target: ${only.join(' ')}`);

if (!TARGETS.every((t) => existsSync(runtimeOf(t)))) {
  execFileSync('npm', ['ci', '--force', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: RUNTIMES,
    stdio: 'inherit',
  });
}
const host = TARGETS.find((t) => t.name === `linux-${process.arch}`);
if (host === undefined) throw new Error(`no Bun runtime to build with on ${process.arch}`);
const bun = runtimeOf(host);

mkdirSync('dist/bin', { recursive: true });
for (const t of targets) {
  const out = join('dist', 'bin', `kubexit-${t.name}`);
  const temp = `${out}.tmp`;
  execFileSync(
    bun,
    [
      'build',
      'src/main.ts',
      '--compile',
      `--target=${t.bunTarget}`,
      `--compile-executable-path=${runtimeOf(t)}`,
      '--no-compile-autoload-dotenv',
      '--no-compile-autoload-bunfig',
      '--splitting',
      '--format=esm',
      '--bytecode',
      '--compile-jit-policy=20',
      '--minify',
      '--keep-names',
      '--define',
      `KUBEXIT_VERSION=${JSON.stringify(pkg.version)}`,
      `--outfile=${temp}`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, BUN_OPTIONS: '' } },
  );
  chmodSync(temp, 0o755);
  renameSync(temp, out);
  const size = statSync(out).size;
  const gz = process.env.KUBEXIT_PACKAGE_NO_GZIP ? 0 : gzipSync(readFileSync(out)).length;
  const mb = (n) => (n / 1e6).toFixed(1);
  console.log(`${out}: ${mb(size)} MB${gz ? `, ${mb(gz)} MB gzip` : ''}`);
}
