// Birth dependencies when the apiserver misbehaves: it ends watches, forgets old resource
// versions, goes away and comes back. These need an apiserver of their own (special flags, and
// stopping it), so this file runs a private instance on free ports and removes it at the end.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { logged, privateInstance, startCluster, type Cluster } from './support/cluster.js';
import { kubexit, traceEvents, type Exit } from './support/kubexit.js';
import { tempDir } from './support/temp.js';

/** Watches end after 5 to 10 s instead of 30 to 60 min. */
const SHORT_WATCHES = '--min-request-timeout=5';
/** Watches served by etcd itself, which compacts its history every 5 s. */
const COMPACTING = `${SHORT_WATCHES} --watch-cache=false --etcd-compaction-interval=5s`;

const instance = await privateInstance('misbehaving', SHORT_WATCHES);
const started = await startCluster(instance);
const TRACE = 'birth dependencies watcher';
const WATCHING = /Pod Watch\(p\): watching from resourceVersion \d+/;

describe('birth dependencies when the apiserver misbehaves', { skip: started.skip }, () => {
  let k8s: Cluster;
  before(() => {
    k8s = started.cluster as Cluster;
  });
  after(async () => {
    await k8s?.purge();
  });

  async function setUp(prefix: string) {
    const ns = await k8s.namespace(prefix);
    await k8s.createPod(ns, 'p', ['app', 'db']);
    await k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: false } });
    await k8s.createServiceAccount(ns, 'app');
    await k8s.grantPodReader(ns, 'app');
    const saDir = k8s.serviceAccountDir(ns, await k8s.token(ns, 'app'));
    const marker = join(tempDir(), 'child-ran');
    const run = kubexit(['sh', '-c', `touch ${marker}`], {
      KUBEXIT_NAME: 'app',
      KUBEXIT_GRAVEYARD: tempDir(),
      KUBEXIT_BIRTH_DEPS: 'db',
      KUBEXIT_BIRTH_TIMEOUT: '90s',
      KUBEXIT_POD_NAME: 'p',
      KUBEXIT_NAMESPACE: ns,
      KUBEXIT_INSTANT_LOGGING: 'true',
      KUBEXIT_VERBOSE_LEVEL: '1',
      ...k8s.inPodEnv(saDir),
    });
    const ready = () => k8s.setStatus(ns, 'p', { app: { ready: false }, db: { ready: true } });
    return { ns, run, marker, ready };
  }

  function assertStarted(exit: Exit, marker: string): string[] {
    assert.equal(exit.code, 0, exit.stderr);
    assert.ok(existsSync(marker), 'the child ran');
    const events = traceEvents(exit.logs.at(-1), TRACE);
    assert.ok(events.includes('All birth deps ready: db'), events.join('\n'));
    return events;
  }

  it(
    'resumes a watch that the server ends (--min-request-timeout)',
    { timeout: 60_000 },
    async () => {
      const { run, marker, ready } = await setUp('rewatch');
      await logged(run, WATCHING);
      await logged(run, /Pod Watch\(p\): the server ended the watch; watching again/);
      await logged(run, WATCHING, 2);
      await ready();
      const events = assertStarted(await run.exited, marker);
      assert.equal(
        events.filter((e) => e.includes(': LIST: ')).length,
        1,
        'resumed, not re-listed',
      );
    },
  );

  it('survives the apiserver going away and coming back', { timeout: 90_000 }, async () => {
    const { run, marker, ready } = await setUp('restart');
    await logged(run, WATCHING);
    await k8s.apiserverStop();
    await logged(
      run,
      /Pod Watch\(p\): recoverable error: watch pods in namespace .*(connection lost|ECONNREFUSED)/,
    );
    await k8s.apiserverStart();
    await logged(run, /recoverable error[\s\S]*watching from resourceVersion/);
    await ready();
    assertStarted(await run.exited, marker);
  });

  it(
    'lists again on 410 Gone when its resourceVersion was compacted away',
    { timeout: 120_000 },
    async () => {
      const restarted = await startCluster({ ...instance, apiserverArgs: COMPACTING });
      assert.ok(restarted.cluster, restarted.skip || 'restarted');
      k8s.close();
      k8s = restarted.cluster;
      const { ns, run, marker, ready } = await setUp('gone');
      await logged(run, WATCHING);
      // History moves on while kubexit's pod does not change: its resourceVersion ages. Once
      // etcd compacts past it, the next watch (the server ends them every 5 to 10 s) is refused.
      for (let i = 0; i < 20; i++) await k8s.createConfigMap(ns, `filler-${i}`, { i: String(i) });
      await logged(run, /Pod Watch\(p\): recoverable error: 410: Expired: .*; listing again/);
      await logged(
        run,
        /listing again[\s\S]*LIST: waiting for db[\s\S]*watching from resourceVersion/,
      );
      await ready();
      assertStarted(await run.exited, marker);
    },
  );
});
