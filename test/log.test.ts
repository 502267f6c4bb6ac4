import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rfc3339Nano } from '../src/clock.js';
import { goJson, Log } from '../src/log.js';

const RFC3339NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

describe('logs', () => {
  it('writes JSON as Go does: sorted keys, HTML characters escaped', () => {
    assert.equal(
      goJson({ message: 'a<b>&c\u2028', '@timestamp': 't', level: 'info', nested: { z: 1, a: 2 } }),
      '{"@timestamp":"t","level":"info","message":"a\\u003cb\\u003e\\u0026c\\u2028","nested":{"z":1,"a":2}}',
    );
  });

  it('prints traces in creation order, with their events', () => {
    const lines: string[] = [];
    const log = new Log({ sink: (l) => lines.push(l) });
    log.trace('app tombstone').event('Creating tombstone: /g/app');
    log.trace('supervisor');
    log.summary('supervising proceed successfully', { exit_code: 0 });
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0] ?? '');
    assert.deepEqual(Object.keys(line), [
      '@timestamp',
      'event-traces',
      'exit_code',
      'level',
      'message',
    ]);
    assert.equal(line['event-traces'][0].id, 'app tombstone');
    assert.equal(line['event-traces'][0].events[0].message, 'Creating tombstone: /g/app');
    assert.match(line['event-traces'][0].events[0].timestamp, RFC3339NANO);
    assert.deepEqual(line['event-traces'][1], { id: 'supervisor', events: [] });
  });

  it('prints each event at once with instant logging', () => {
    const lines: string[] = [];
    const log = new Log({ sink: (l) => lines.push(l), instant: true });
    log.trace('supervisor').event('Start: x');
    const line = JSON.parse(lines[0] ?? '');
    assert.deepEqual(
      { ...line, '@timestamp': undefined },
      {
        '@timestamp': undefined,
        app: 'kubexit',
        event: 'Start: x',
        'event-trace-id': 'supervisor',
        level: 'trace',
        message: '',
      },
    );
  });

  it('puts the error, its stack and the traces on the error line', () => {
    const lines: string[] = [];
    const log = new Log({ sink: (l) => lines.push(l) });
    log.trace('supervisor');
    log.error(new Error('boom'), { exit_code: 1 });
    const line = JSON.parse(lines[0] ?? '');
    assert.equal(line.error, 'boom');
    assert.equal(line.level, 'error');
    assert.equal(line.message, '');
    assert.ok(Array.isArray(line.stack) && line.stack.length > 0);
    assert.equal(line['event-traces'].length, 1);
  });

  it('keeps memory flat in a long run', () => {
    const log = new Log({ sink: () => {} });
    const t = log.trace('death graveyard watcher');
    for (let i = 0; i < 5000; i++) t.event(`Ignore tombstone x${i}`);
    const json = t.toJSON();
    assert.equal(json.events.length, 1001);
    assert.match(json.events[0]?.message ?? '', /4000 earlier events dropped/);
    assert.equal(json.events.at(-1)?.message, 'Ignore tombstone x4999');
  });
});

describe('timestamps', () => {
  it('use RFC 3339 with nanosecond precision, trailing zeros dropped', () => {
    const prev = process.env.TZ;
    try {
      process.env.TZ = 'UTC';
      assert.equal(
        rfc3339Nano(Date.UTC(2020, 3, 28, 10, 41, 46) * 1000 + 992631),
        '2020-04-28T10:41:46.992631Z',
      );
      assert.equal(rfc3339Nano(Date.UTC(2020, 3, 28, 10, 41, 46) * 1000), '2020-04-28T10:41:46Z');
      assert.equal(
        rfc3339Nano(Date.UTC(2020, 3, 28, 10, 41, 46) * 1000 + 500000),
        '2020-04-28T10:41:46.5Z',
      );
      process.env.TZ = 'Europe/Moscow';
      assert.equal(
        rfc3339Nano(Date.UTC(2021, 9, 13, 12, 0, 21) * 1000),
        '2021-10-13T15:00:21+03:00',
      );
      assert.match(rfc3339Nano(), RFC3339NANO);
    } finally {
      if (prev === undefined) delete process.env.TZ;
      else process.env.TZ = prev;
    }
  });
});
