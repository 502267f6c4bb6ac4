// The readiness rule, the token parsing, the API URLs, the watch line buffer and the bounded
// file reader, on plain values and real files: no API involved.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nameSelector, pathSegment, podsPath } from '../src/supervisor/kube/api-path.js';
import { fromUsername, serviceAccountOf } from '../src/supervisor/kube/client.js';
import { FileError, readRegularFile } from '../src/supervisor/kube/file.js';
import { LineBuffer, LineTooLong } from '../src/supervisor/kube/lines.js';
import { checkReadiness, containerNames, type Pod } from '../src/supervisor/kube/pod.js';
import { tempDir } from './support/temp.js';

function pod(over: Partial<Pod> = {}): Pod {
  return {
    metadata: { name: 'p', resourceVersion: '7' },
    spec: {
      containers: [{ name: 'app' }, { name: 'db' }, { name: 'cache' }],
      initContainers: [
        { name: 'migrate' },
        { name: 'proxy', restartPolicy: 'Always' },
        { name: 'probed', restartPolicy: 'Always', readinessProbe: { httpGet: { port: 80 } } },
      ],
    },
    status: { containerStatuses: [], initContainerStatuses: [] },
    ...over,
  };
}

function withStatuses(
  containers: Record<string, { ready?: boolean; started?: boolean }>,
  inits: Record<string, { ready?: boolean; started?: boolean }> = {},
): Pod {
  const list = (m: typeof containers) => Object.entries(m).map(([name, s]) => ({ name, ...s }));
  return pod({
    status: { containerStatuses: list(containers), initContainerStatuses: list(inits) },
  });
}

describe('checkReadiness', () => {
  it('is ready when every dependency has ready: true', () => {
    const p = withStatuses({ app: { ready: false }, db: { ready: true }, cache: { ready: true } });
    assert.deepEqual(checkReadiness(p, ['db', 'cache']), { ready: true, waiting: [], unknown: [] });
  });

  it('lists the dependencies still waiting, in the order given', () => {
    const p = withStatuses({ db: { ready: false, started: true }, cache: { ready: true } });
    assert.deepEqual(checkReadiness(p, ['db', 'cache']), {
      ready: false,
      waiting: ['db'],
      unknown: [],
    });
    assert.deepEqual(checkReadiness(withStatuses({}), ['cache', 'db']).waiting, ['cache', 'db']);
  });

  it('started is not ready for a regular container', () => {
    const p = withStatuses({ db: { started: true } });
    assert.equal(checkReadiness(p, ['db']).ready, false);
  });

  it('a pod with no status yet (just created) is not ready', () => {
    assert.deepEqual(checkReadiness(pod({ status: {} }), ['db']).waiting, ['db']);
    assert.deepEqual(checkReadiness(pod({ status: undefined }), ['db']).waiting, ['db']);
  });

  it('native sidecar: ready in initContainerStatuses', () => {
    const p = withStatuses({}, { probed: { ready: true, started: true } });
    assert.equal(checkReadiness(p, ['probed']).ready, true);
  });

  it('native sidecar without a readiness probe: started is enough', () => {
    assert.equal(
      checkReadiness(withStatuses({}, { proxy: { started: true } }), ['proxy']).ready,
      true,
    );
    assert.equal(
      checkReadiness(withStatuses({}, { proxy: { started: false } }), ['proxy']).ready,
      false,
    );
  });

  it('native sidecar with a readiness probe: started is not enough', () => {
    const p = withStatuses({}, { probed: { ready: false, started: true } });
    assert.deepEqual(checkReadiness(p, ['probed']).waiting, ['probed']);
  });

  it('a classic init container counts once the kubelet marks it ready (completed)', () => {
    assert.equal(
      checkReadiness(withStatuses({}, { migrate: { started: true } }), ['migrate']).ready,
      false,
    );
    assert.equal(
      checkReadiness(withStatuses({}, { migrate: { ready: true } }), ['migrate']).ready,
      true,
    );
  });

  it('a regular container status is not read from initContainerStatuses, nor the reverse', () => {
    assert.equal(checkReadiness(withStatuses({}, { db: { ready: true } }), ['db']).ready, false);
    assert.equal(checkReadiness(withStatuses({ proxy: { ready: true } }), ['proxy']).ready, false);
  });

  it('names that are no container of the pod are unknown, never ready', () => {
    const p = withStatuses({ db: { ready: true } });
    assert.deepEqual(checkReadiness(p, ['db', 'dbb', 'ghost']), {
      ready: false,
      waiting: [],
      unknown: ['dbb', 'ghost'],
    });
  });

  it('a status for a container the spec does not have does not make it known', () => {
    const p = withStatuses({ ghost: { ready: true } });
    assert.deepEqual(checkReadiness(p, ['ghost']).unknown, ['ghost']);
  });

  it('an empty dependency list is ready', () => {
    assert.equal(checkReadiness(pod(), []).ready, true);
  });
});

describe('containerNames', () => {
  it('lists regular containers, then init ones, marked', () => {
    assert.deepEqual(containerNames(pod()), [
      'app',
      'db',
      'cache',
      'migrate (init container)',
      'proxy (sidecar container)',
      'probed (sidecar container)',
    ]);
  });
});

describe('service account from the token', () => {
  const jwt = (claims: object) =>
    ['{"alg":"RS256"}', JSON.stringify(claims), 'sig']
      .map((p, i) => (i < 2 ? Buffer.from(p).toString('base64url') : p))
      .join('.');

  it('reads the sub claim of a bound service-account token', () => {
    assert.equal(
      serviceAccountOf(jwt({ sub: 'system:serviceaccount:shop:checkout' })),
      'shop:checkout',
    );
  });

  it('is undefined for anything else', () => {
    assert.equal(serviceAccountOf('not-a-token'), undefined);
    assert.equal(serviceAccountOf('a.%%%.c'), undefined);
    assert.equal(serviceAccountOf(jwt({ sub: 'alice' })), undefined);
    assert.equal(serviceAccountOf(jwt({})), undefined);
  });

  it('fromUsername takes the service-account form only', () => {
    assert.equal(fromUsername('system:serviceaccount:ns:sa'), 'ns:sa');
    assert.equal(fromUsername('system:anonymous'), undefined);
  });
});

describe('API URLs', () => {
  const query = new URLSearchParams({ fieldSelector: nameSelector('p') });

  it('a plain namespace and name make the usual URL', () => {
    assert.equal(
      podsPath('shop', query),
      '/api/v1/namespaces/shop/pods?fieldSelector=metadata.name%3Dp',
    );
  });

  it('every path segment is percent-encoded: "../../x" stays one segment', () => {
    const path = podsPath('../../x', query);
    assert.equal(path, '/api/v1/namespaces/..%2F..%2Fx/pods?fieldSelector=metadata.name%3Dp');
    // As Node's request() will parse it: still under /api/v1/namespaces/, still /pods.
    assert.equal(new URL(path, 'https://api').pathname, '/api/v1/namespaces/..%2F..%2Fx/pods');
    assert.equal(pathSegment('a/b?c#d e%', 'namespace'), 'a%2Fb%3Fc%23d%20e%25');
  });

  it('".", ".." and "" cannot be a segment in any spelling: refused, naming the value', () => {
    for (const bad of ['', '.', '..']) {
      assert.throws(
        () => podsPath(bad, query),
        new RegExp(
          `^Error: namespace ${JSON.stringify(bad).replace(/\./g, '\\.')} cannot be a segment of an API path$`,
        ),
      );
    }
  });

  it('the pod name cannot add field-selector terms: , = and \\ are escaped', () => {
    assert.equal(nameSelector('p'), 'metadata.name=p');
    assert.equal(
      nameSelector('p,metadata.namespace=x'),
      'metadata.name=p\\,metadata.namespace\\=x',
    );
    assert.equal(nameSelector('a\\b'), 'metadata.name=a\\\\b');
    // and the query string encodes the rest: no & or # gets through
    const q = new URLSearchParams({ fieldSelector: nameSelector('p&watch=0#x/../..') });
    assert.equal(q.toString(), 'fieldSelector=metadata.name%3Dp%26watch%5C%3D0%23x%2F..%2F..');
  });
});

describe('watch lines (LineBuffer)', () => {
  const take = (lb: LineBuffer, chunk: string | Buffer) => [
    ...lb.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)),
  ];

  it('cuts at newlines, across chunks, keeping the rest for later', () => {
    const lb = new LineBuffer(100);
    assert.deepEqual(take(lb, '{"a":1}\n{"b"'), ['{"a":1}']);
    assert.deepEqual(take(lb, ':2'), []);
    assert.deepEqual(take(lb, '}\n\n{"c":3}\n'), ['{"b":2}', '', '{"c":3}']);
  });

  it('a multi-byte character split between chunks is decoded whole', () => {
    const bytes = Buffer.from('"é€"\n');
    const lb = new LineBuffer(100);
    for (let i = 0; i < bytes.length - 1; i++) {
      assert.deepEqual(take(lb, bytes.subarray(i, i + 1)), []);
    }
    assert.deepEqual(take(lb, bytes.subarray(-1)), ['"é€"']);
  });

  it('holds at most the bound: one byte more without a newline throws', () => {
    const lb = new LineBuffer(8);
    assert.deepEqual(take(lb, '12345678\n'), ['12345678'], 'exactly the bound is fine');
    take(lb, '1234');
    assert.throws(() => take(lb, '56789'), LineTooLong);
    // and it starts afresh after that
    assert.deepEqual(take(lb, 'ok\n'), ['ok']);
  });

  it('a line over the bound is refused even when its newline is in the same chunk', () => {
    assert.throws(() => take(new LineBuffer(4), '12345\n'), LineTooLong);
  });
});

describe('readRegularFile', () => {
  const dir = tempDir();

  it('reads a regular file, through a symlink (as projected volumes have them)', () => {
    writeFileSync(join(dir, 'real'), 'token');
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    assert.equal(readRegularFile(join(dir, 'link'), 64).toString(), 'token');
  });

  it('reads exactly the cap, and refuses one byte more, naming the path and the cap', () => {
    writeFileSync(join(dir, 'k'), 'x'.repeat(1024));
    assert.equal(readRegularFile(join(dir, 'k'), 1024).length, 1024);
    assert.throws(() => readRegularFile(join(dir, 'k'), 1023), {
      message: `${join(dir, 'k')} is larger than 1023 bytes`,
    });
  });

  it('refuses a FIFO at once (no writer needed), naming it', () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    assert.throws(() => readRegularFile(join(dir, 'fifo'), 64), {
      message: `${join(dir, 'fifo')} is a FIFO, expected a regular file`,
    });
  });

  it('refuses a directory and a character device, naming them', () => {
    assert.throws(() => readRegularFile(dir, 64), {
      message: `${dir} is a directory, expected a regular file`,
    });
    assert.throws(() => readRegularFile('/dev/zero', 64), {
      message: '/dev/zero is a character device, expected a regular file',
    });
  });

  it('a missing file keeps its errno code', () => {
    assert.throws(
      () => readRegularFile(join(dir, 'none'), 64),
      (err: unknown) => err instanceof FileError && err.code === 'ENOENT',
    );
  });
});
