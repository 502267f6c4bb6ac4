// `kubexit inject` as users run it: the build under test as a real process (node dist/kubexit.js,
// or the executable named by KUBEXIT_BIN), files, folders and stdin in, YAML out. The examples'
// wired manifests are its output: KUBEXIT_WRITE_EXAMPLES=1 writes them again.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { kubexit, ROOT } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `kubexit inject …` as a process of the build under test. */
function spawnInject(args: readonly string[], stdio: StdioOptions): ChildProcess {
  const bin = process.env.KUBEXIT_BIN;
  const [file, pre] = bin ? [bin, []] : [process.execPath, [join(ROOT, 'dist', 'kubexit.js')]];
  // A wrapped container's KUBEXIT_NAME would make `inject` a command to supervise.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('KUBEXIT_')),
  );
  return spawn(file, [...pre, 'inject', ...args], { env, stdio });
}

/** `kubexit inject …`, stdin from `input` (none: /dev/null). */
function inject(args: readonly string[], input?: string): Promise<Result> {
  const child = spawnInject(args, [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (input !== undefined) child.stdin?.end(input);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** The documents of a stream, each as its text (the separators left out). */
function documents(stream: string): string[] {
  return stream.split(/^---\n/m).filter((d) => d !== '');
}

const EXAMPLES: Record<string, string[]> = {
  'client-server-job': ['--rbac'],
  'cloudsql-proxy-job': ['--rbac'],
  'image-volume': ['--rbac', '--image-volume'],
  'no-rbac-job': [],
};
const FILES: Record<string, string> = {
  Job: 'job.yaml',
  ServiceAccount: 'service-account.yaml',
  Role: 'role.yaml',
  RoleBinding: 'role-binding.yaml',
};

describe('kubexit inject (the CLI)', () => {
  for (const [example, flags] of Object.entries(EXAMPLES)) {
    it(`examples/${example}: the committed manifests are kubexit inject ${flags.join(' ')} app.yaml`, async () => {
      const dir = join(ROOT, 'examples', example);
      const r = await inject([...flags, join(dir, 'app.yaml')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      const docs = documents(r.stdout);
      const kinds = docs.map((d) => (parse(d) as { kind: string }).kind);
      assert.deepEqual(
        kinds,
        flags.includes('--rbac') ? ['ServiceAccount', 'Role', 'RoleBinding', 'Job'] : ['Job'],
      );
      docs.forEach((doc, i) => {
        const file = join(dir, FILES[kinds[i] as string] as string);
        if (process.env.KUBEXIT_WRITE_EXAMPLES === '1') writeFileSync(file, doc);
        assert.equal(readFileSync(file, 'utf8'), doc, `${file} differs from inject's output`);
      });
      // Wired once is wired: inject of the output is the output.
      const again = await inject([...flags, '-'], r.stdout);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, r.stdout);
    });
  }

  it('reads stdin and a folder: kustomize-style output in, every pod template wired', async () => {
    const dir = tempDir('inject-dir');
    mkdirSync(join(dir, 'nested'));
    writeFileSync(join(dir, 'a.yaml'), POD);
    writeFileSync(join(dir, 'nested', 'b.yml'), DEPLOYMENT);
    writeFileSync(join(dir, 'notes.txt'), 'not YAML: skipped');
    const fromDir = await inject([dir]);
    assert.equal(fromDir.code, 0, fromDir.stderr);
    const fromStdin = await inject(['-'], `${POD}---\n${DEPLOYMENT}`);
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, fromDir.stdout);
    const [pod, deployment] = documents(fromDir.stdout).map((d) => parse(d) as Wired);
    assert.deepEqual(pod?.spec.containers[0]?.command, ['/kubexit/kubexit', 'app']);
    assert.deepEqual(deployment?.spec.template?.spec.containers[0]?.command, [
      '/kubexit/kubexit',
      'web',
    ]);
    assert.equal(pod?.spec.initContainers?.[0]?.image, `kubexit:${VERSION}`);
  });

  it('--image: the image of the init container', async () => {
    const r = await inject(['--image', 'registry.example/kubexit:9', '-'], POD);
    assert.equal(r.code, 0, r.stderr);
    const pod = parse(r.stdout) as Wired;
    assert.equal(pod.spec.initContainers?.[0]?.image, 'registry.example/kubexit:9');
  });

  it('a container without command: exit 1, file:line:col and what to add on stderr, nothing on stdout', async () => {
    const dir = tempDir('inject-bad');
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `${POD}---\n${NO_COMMAND}`);
    const r = await inject([file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `${file}:26:7: error: container "server" of Pod no-command has no command: kubexit must ` +
        'start its process, and the image entrypoint is not known here; add command: ' +
        "[<the image's entrypoint>, …] (args stay as they are)\n",
    );
  });

  it('bad arguments: usage on stderr, exit 2; --help: usage on stdout, exit 0', async () => {
    for (const args of [[], ['--rbca', 'x.yaml'], ['--image']]) {
      const r = await inject(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^kubexit inject: .+\nUsage: kubexit inject /);
    }
    const help = await inject(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: kubexit inject \[--rbac\]/);
    assert.match(help.stdout, new RegExp(`default kubexit:${VERSION.replace(/\./g, '\\.')}\\)`));
  });

  it('in a wrapped container (KUBEXIT_NAME set), inject is a command to supervise, not the tool', async () => {
    const graveyard = tempDir('inject-wrapped');
    const r = await kubexit(['inject', '-'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: graveyard,
    }).exited;
    assert.equal(r.code, 127, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(readFileSync(join(graveyard, 'app'), 'utf8'), /^ExitCode: 127$/m);
  });

  it('a missing file: exit 1, its name on stderr, nothing on stdout', async () => {
    const r = await inject([join(tempDir('inject-missing'), 'nope.yaml')]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^kubexit inject: error: .*nope\.yaml/);
  });

  // A tool is not a supervisor: the signals kubexit traps for its child are given back. Here the
  // tool has started (it opened the FIFO it was given) and waits for its input; before, the
  // signal was held for a child that never comes, and the tool ran on.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(
      `waiting for its input, ${sig} ends it (killed by ${sig}, as any command line tool)`,
      {
        timeout: 20_000,
      },
      async () => {
        const fifo = join(tempDir('inject-fifo'), 'in.yaml');
        execFileSync('mkfifo', [fifo]);
        const child = spawnInject([fifo], 'ignore');
        const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
          child.on('exit', (code, signal) => resolve([code, signal])),
        );
        const writer = await open(fifo, 'w'); // returns once the tool has opened it to read
        await writer.write('apiVersion: v1\n'); // and never ends
        child.kill(sig);
        assert.deepEqual(await exited, [null, sig]);
        await writer.close();
      },
    );
  }
});

interface Wired {
  spec: {
    initContainers?: { image: string }[];
    containers: { command: string[] }[];
    template?: { spec: { containers: { command: string[] }[] } };
  };
}

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  containers:
    - name: app
      image: app:1
      command: [app]
      env:
        - name: KUBEXIT_DEATH_DEPS
          value: other
`;

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        kubexit.io/inject: 'true'
    spec:
      containers:
        - name: web
          image: web:1
          command: [web]
`;

const NO_COMMAND = `apiVersion: v1
kind: Pod
metadata:
  name: no-command
spec:
  containers:
    - name: client
      image: client:1
      command: [client]
      env:
        - name: KUBEXIT_BIRTH_DEPS
          value: server
    - name: server
      image: server:1
      args: [--port, '80']
      env:
        - name: KUBEXIT_DEATH_DEPS
          value: client
`;
