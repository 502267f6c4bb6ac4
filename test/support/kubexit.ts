// Runs kubexit as a real process: `node dist/kubexit.js`, or the executable named by KUBEXIT_BIN.
import { spawn, type ChildProcess } from 'node:child_process';
import { watch, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES = join(ROOT, 'test', 'fixtures');

function command(): [string, string[]] {
  const bin = process.env.KUBEXIT_BIN;
  return bin ? [bin, []] : [process.execPath, [join(ROOT, 'dist', 'kubexit.js')]];
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stderr's JSON lines, parsed. */
  logs: Record<string, unknown>[];
}

/** Runs still going when a test file ends (a failed or timed-out test): TERMed, not leaked. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const proc of live) proc.kill('SIGTERM'); // kubexit passes it on to its child
});

/** A spawned process whose output tests wait on, event by event, and how it ended. */
export class Watched {
  readonly exited: Promise<Exit>;
  running = true;
  private stdoutText = '';
  private stderrText = '';
  private readonly waiters: {
    stream: 'stdout' | 'stderr';
    pattern: RegExp;
    resolve: (m: RegExpMatchArray) => void;
  }[] = [];

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdoutText += d;
      this.check();
    });
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderrText += d;
      this.check();
    });
    this.exited = new Promise((resolve) => {
      proc.once('close', (code, signal) => {
        this.running = false;
        resolve({
          code,
          signal,
          stdout: this.stdoutText,
          stderr: this.stderrText,
          logs: parseLines(this.stderrText),
        });
      });
    });
  }

  /** Resolves when stdout (the child's output, for kubexit) matches. */
  stdout(pattern: RegExp): Promise<RegExpMatchArray> {
    return this.waitFor('stdout', pattern);
  }

  /** Resolves when stderr (kubexit's logs, and the child's stderr) matches. */
  stderr(pattern: RegExp): Promise<RegExpMatchArray> {
    return this.waitFor('stderr', pattern);
  }

  private waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpMatchArray> {
    return new Promise((resolve) => {
      this.waiters.push({ stream, pattern, resolve });
      this.check();
    });
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      const m = (w.stream === 'stdout' ? this.stdoutText : this.stderrText).match(w.pattern);
      if (m) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }
}

/** kubexit as a real process. */
export class Run extends Watched {
  constructor(args: readonly string[], env: Record<string, string | undefined>) {
    const [file, pre] = command();
    const base = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('KUBEXIT_')),
    );
    super(
      spawn(file, [...pre, ...args], {
        env: { ...base, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    live.add(this.proc);
    void this.exited.then(() => live.delete(this.proc));
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  kill(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }
}

export function kubexit(args: readonly string[], env: Record<string, string | undefined>): Run {
  return new Run(args, env);
}

export function parseLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves with the tombstone's text once `accept` likes it; inotify, no polling. */
export async function tombstone(
  dir: string,
  name: string,
  accept: (text: string) => boolean = (t) => t.includes('Died:'),
): Promise<string> {
  const watcher = watch(dir);
  try {
    for (;;) {
      // Listen before reading, so a write between the two is not missed.
      const changed = new Promise((resolve) => watcher.once('change', resolve));
      const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
      if (text !== undefined && accept(text)) return text;
      await changed;
    }
  } finally {
    watcher.close();
  }
}

/** Events of one trace in a summary or error line. */
export function traceEvents(line: Record<string, unknown> | undefined, id: string): string[] {
  const traces = (line?.['event-traces'] ?? []) as { id: string; events: { message: string }[] }[];
  return traces.find((t) => t.id === id)?.events.map((e) => e.message) ?? [];
}

/**
 * The environment of a kubexit that stays in its birth wait: a birth dependency on an API
 * server that refuses connections (retried until the timeout, 5 minutes). Its log says
 * `Watching pod pod updates` once it waits.
 */
export function waitingForBirth(saDir: string): Record<string, string> {
  writeFileSync(join(saDir, 'token'), 'token\n');
  writeFileSync(join(saDir, 'ca.crt'), 'not used: nothing listens\n');
  return {
    KUBEXIT_BIRTH_DEPS: 'proxy',
    KUBEXIT_BIRTH_TIMEOUT: '5m',
    KUBEXIT_POD_NAME: 'pod',
    KUBEXIT_NAMESPACE: 'default',
    KUBEXIT_SERVICE_ACCOUNT_DIR: saDir,
    KUBEXIT_INSTANT_LOGGING: 'true',
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: '1',
  };
}
