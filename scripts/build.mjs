// Bundles src/main.ts into dist/kubexit.js. Code behind dynamic import() (the YAML reader for
// death dependencies, the Kubernetes client for birth dependencies) goes into separate chunks,
// so a run loads only what its configuration needs.
import { build } from 'esbuild';
import { chmodSync, readFileSync, rmSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// dist/bin (npm run package) is left alone: it takes longer to make.
rmSync('dist/kubexit.js', { force: true });
rmSync('dist/chunks', { recursive: true, force: true });
await build({
  entryPoints: { kubexit: 'src/main.ts' },
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // CommonJS dependencies (yaml) call require() for Node's built-ins.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __kxRequire } from 'node:module';\nconst require = __kxRequire(import.meta.url);",
  },
  define: { KUBEXIT_VERSION: JSON.stringify(pkg.version) },
  // Only the Bun executable loads it (src/platform/reap.ts).
  external: ['bun:*'],
  legalComments: 'none',
  logLevel: 'warning',
});
chmodSync('dist/kubexit.js', 0o755);
