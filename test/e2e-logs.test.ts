// The fork's JSON log lines, as a real run prints them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubexit, traceEvents } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

const RFC3339NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

describe('logs', () => {
  it('a quiet successful run prints only the init line, with the config', async () => {
    const graveyard = tempDir();
    const exit = await kubexit(['true'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_DEATH_DEPS: 'a, b',
      KUBEXIT_GRACE_PERIOD: '1m30s',
    }).exited;
    assert.equal(exit.code, 0);
    assert.equal(exit.logs.length, 1);
    const [init] = exit.logs;
    assert.deepEqual(Object.keys(init ?? {}), ['@timestamp', 'config', 'level', 'message']);
    assert.match(String(init?.['@timestamp']), RFC3339NANO);
    assert.equal(init?.message, 'kubexit initialized');
    assert.deepEqual(init?.config, {
      name: 'app',
      graveyard,
      birth_deps: null,
      death_deps: ['a', 'b'],
      birth_timeout: 30_000_000_000,
      grace_period: 90_000_000_000,
      pod_name: '',
      namespace: '',
      verbose_level: 0,
      instant_logging: false,
      service_account_dir: '/var/run/secrets/kubernetes.io/serviceaccount',
      birth_conditions: null,
      birth_timeout_action: 'fail',
      ready_probe: null,
      ready_probe_period: 1_000_000_000,
      ready_probe_timeout: 1_000_000_000,
      ready_probe_initial_delay: 0,
    });
  });

  it('verbose: the final line has every trace, the exit code and the signal', async () => {
    const graveyard = tempDir();
    const exit = await kubexit(['sh', '-c', 'kill -TERM $$'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: graveyard,
      KUBEXIT_VERBOSE_LEVEL: '1',
    }).exited;
    const last = exit.logs.at(-1);
    assert.equal(last?.message, 'supervising proceed successfully');
    assert.equal(last?.level, 'info');
    assert.equal(last?.exit_code, 143);
    assert.equal(last?.signal, 'SIGTERM');
    const traces = last?.['event-traces'] as { id: string }[];
    assert.deepEqual(
      traces.map((t) => t.id),
      ['app tombstone', 'supervisor'],
    );
    assert.deepEqual(traceEvents(last, 'app tombstone'), [
      `Creating tombstone: ${graveyard}/app`,
      `Updating tombstone: ${graveyard}/app`,
    ]);
    assert.deepEqual(traceEvents(last, 'supervisor'), [
      'Start: sh -c "kill -TERM $$"',
      'Received signal: child exited',
    ]);
  });

  it('instant logging prints each event as a trace line, as it happens', async () => {
    const exit = await kubexit(['true'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: tempDir(),
      KUBEXIT_INSTANT_LOGGING: 'true',
    }).exited;
    const trace = exit.logs.filter((l) => l.level === 'trace');
    assert.deepEqual(
      trace.map((l) => [l['event-trace-id'], l.event, l.app, l.message]),
      [
        ['supervisor', 'Start: true', 'kubexit', ''],
        [
          'app tombstone',
          `Creating tombstone: ${String((exit.logs[0]?.config as { graveyard: string }).graveyard)}/app`,
          'kubexit',
          '',
        ],
        ['supervisor', 'Received signal: child exited', 'kubexit', ''],
        [
          'app tombstone',
          `Updating tombstone: ${String((exit.logs[0]?.config as { graveyard: string }).graveyard)}/app`,
          'kubexit',
          '',
        ],
      ],
    );
  });

  it('a failure always prints the error line, whatever the verbose level', async () => {
    const exit = await kubexit(['kubexit-no-such-command'], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: tempDir(),
    }).exited;
    const last = exit.logs.at(-1);
    assert.equal(last?.level, 'error');
    assert.equal(last?.message, '');
    assert.match(String(last?.error), /kubexit-no-such-command/);
    assert.ok(Array.isArray(last?.stack));
    assert.ok(Array.isArray(last?.['event-traces']));
    assert.equal(last?.exit_code, 127);
  });
});
