import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { rfc3339Nano } from '../src/supervisor/clock.js';
import { goJson, Log, LogWriter, MAX_QUEUED_BYTES } from '../src/supervisor/log.js';
import { tempDir } from './support/temp.js';

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

/** A real pipe (a FIFO): a blocking write end for the writer, a read end read at will. */
function pipe(): { readFd: number; writeFd: number; fill(): void; read(): string } {
  const path = join(tempDir(), 'stderr');
  execFileSync('mkfifo', [path]);
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeFd = openSync(path, constants.O_WRONLY);
  return {
    readFd,
    writeFd,
    fill() {
      const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        for (;;) writeSync(fd, 'filler\n');
      } catch {
        // EAGAIN: full
      } finally {
        closeSync(fd);
      }
    },
    /** What the pipe holds now, without waiting. */
    read() {
      const buf = Buffer.alloc(1 << 16);
      let text = '';
      for (;;) {
        try {
          const n = readSync(readFd, buf);
          if (n === 0) return text;
          text += buf.toString('utf8', 0, n);
        } catch {
          return text; // EAGAIN: empty
        }
      }
    },
  };
}

const numbered = (i: number, size = 100): string =>
  `{"n":${i},"pad":"${'x'.repeat(size - 20 - String(i).length)}"}\n`;

describe('the log writer', () => {
  it('never waits on a full pipe: lines wait and come out in order once it drains', () => {
    const p = pipe();
    p.fill();
    const writer = new LogWriter(p.writeFd);
    for (let i = 0; i < 10; i++) writer.write(numbered(i)); // a blocking write would hang here
    assert.match(p.read(), /^(filler\n)+$/);
    assert.equal(writer.flush(), true);
    assert.equal(p.read(), Array.from({ length: 10 }, (_, i) => numbered(i)).join(''));
  });

  it('drops lines beyond the bound, counts them, and tells the count where the gap is', () => {
    const p = pipe();
    p.fill();
    const writer = new LogWriter(p.writeFd);
    const size = 1000;
    const fits = Math.floor(MAX_QUEUED_BYTES / size);
    for (let i = 0; i < fits + 500; i++) writer.write(numbered(i, size));
    p.read(); // the reader takes one pipeful: room again
    writer.flush();
    writer.write('{"after":true}\n');
    let text = p.read();
    while (!writer.flush()) text += p.read();
    text += p.read();
    const lines = text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const kept = lines.filter((l) => typeof l.n === 'number').map((l) => l.n);
    assert.deepEqual(
      kept,
      Array.from({ length: kept.length }, (_, i) => i),
      'the first lines, in order',
    );
    assert.ok(kept.length >= fits - 1 && kept.length < fits + 500, String(kept.length));
    const [told, after] = lines.slice(kept.length);
    assert.equal(told?.level, 'warning');
    assert.equal(told?.message, 'stderr was not read: log lines dropped');
    assert.equal(told?.dropped_lines, fits + 500 - kept.length);
    assert.deepEqual(after, { after: true });
    assert.equal(lines.length, kept.length + 2);
  });

  it('tells the count once the pipe drains, when nothing else is written', () => {
    const p = pipe();
    p.fill();
    const writer = new LogWriter(p.writeFd);
    const total = Math.ceil(MAX_QUEUED_BYTES / 1000) + 100;
    for (let i = 0; i < total; i++) writer.write(numbered(i, 1000));
    let text = p.read();
    while (!writer.flush()) text += p.read();
    text += p.read();
    const lines = text
      .trimEnd()
      .split('\n')
      .filter((l) => l !== 'filler');
    const last = JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
    assert.equal(last.message, 'stderr was not read: log lines dropped');
    assert.equal(last.dropped_lines, total - (lines.length - 1));
  });

  it('stops for good at EPIPE and reports it once (one SIGPIPE of its own)', () => {
    const p = pipe();
    closeSync(p.readFd);
    const writer = new LogWriter(p.writeFd);
    let broken = 0;
    writer.onBroken = () => broken++;
    for (let i = 0; i < 3; i++) writer.write(numbered(i));
    assert.equal(broken, 1);
    assert.equal(writer.flush(), true);
  });

  it('gives up on the last lines at exit when nobody reads', () => {
    const p = pipe();
    p.fill();
    const writer = new LogWriter(p.writeFd);
    writer.write(numbered(0));
    writer.finish(); // returns: kubexit then exits with the code it has
    assert.match(p.read(), /^(filler\n)+$/);
  });
});
