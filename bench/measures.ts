// The measures that npm run bench (run.ts) and the A/B of builds (ab.ts) both take, written once:
// the C helpers built, the tombstone writer kept running, startup and the death reaction.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  baseEnv,
  type Figures,
  ms,
  ns,
  OUT,
  PROBE,
  REFERENCE,
  ROOT,
  start,
  type Supervisor,
  WRITER,
} from './harness.js';

/** bench/probe.c, reference.c and writer.c, built into build/bench. */
export function buildHelpers(): void {
  mkdirSync(OUT, { recursive: true });
  for (const [out, src] of [
    [PROBE, 'probe.c'],
    [REFERENCE, 'reference.c'],
    [WRITER, 'writer.c'],
  ] as const)
    execFileSync('cc', ['-O2', '-o', out, join(ROOT, 'bench', src)]);
}

/** bench/writer.c, kept running: publishes a tombstone and answers with its t0. */
let writer: ReturnType<typeof start> | undefined;
export async function write(op: 'born' | 'inplace' | 'rename', path: string): Promise<bigint> {
  writer ??= start([WRITER], process.env, ['pipe', 'pipe', 'inherit']);
  writer.proc.stdin?.write(`${op} ${path}\n`);
  const answer = await writer.line();
  if (!answer.startsWith('t ')) throw new Error(`writer: ${op} ${path} failed`);
  return ns(answer);
}

/** Lets the writer end with the run. */
export function stopWriter(): void {
  writer?.proc.stdin?.end();
}

export async function startup(s: Supervisor): Promise<Figures> {
  const t0 = process.hrtime.bigint();
  const run = start([...s.argv, PROBE, 'start'], baseEnv());
  const t1 = ns(await run.line());
  await run.exited;
  return { startup: ms(t1 - t0) };
}

/**
 * The dependency holds a Born tombstone (as it would), then dies by the writer's kind;
 * `settleMs` after the child runs (0: the death races the end of the supervisor's start-up).
 */
export async function death(
  s: Supervisor,
  how: 'rename' | 'inplace',
  extra: Record<string, string> = {},
  settleMs = 0,
): Promise<number> {
  const env = baseEnv({ KUBEXIT_DEATH_DEPS: 'main', ...extra });
  const dep = join(env.KUBEXIT_GRAVEYARD as string, 'main');
  await write('born', dep);
  const run = start([...s.argv, PROBE, 'term'], env);
  await run.line(); // ready: the watch was set up before the child started
  if (settleMs > 0) await sleep(settleMs);
  const t0 = await write(how, dep);
  const t1 = ns(await run.line());
  await run.exited;
  return ms(t1 - t0);
}

export async function deaths(s: Supervisor, settleMs = 0): Promise<Figures> {
  return {
    'death.rename': await death(s, 'rename', {}, settleMs),
    'death.inplace': await death(s, 'inplace', {}, settleMs),
  };
}
