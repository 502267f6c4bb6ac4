// The readiness rule and the token parsing, on plain objects: no API involved.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromUsername, serviceAccountOf } from '../src/kube/client.js';
import { checkReadiness, containerNames, type Pod } from '../src/kube/pod.js';

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
