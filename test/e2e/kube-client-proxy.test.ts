// op-kube's apiserver client against the real kube-apiserver through a real forward proxy on loopback: HTTPS_PROXY/NO_PROXY by Go's rule, kubeconfig proxy-url, watches through the tunnel, refusals that name the proxy.
//
// Loopback never goes through a proxy (Go's rule), so the apiserver is named two other ways:
// `kubernetes.proxy.test`, which only the proxy resolves (reachable through it and only through
// it), and 0.0.0.0, no loopback address for the rule but this machine's listeners all the same.
// Either way the TLS server name is `kubernetes`, one of the apiserver certificate's names, and
// the client certificate authenticates inside the tunnel.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import { isKubeApiError } from '../../src/kube/client/api-error.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { loadKubeConfig } from '../../src/kube/client/kubeconfig.ts';
import { openWatch } from '../../src/kube/cache/watch.ts';
import { testNamespace, testPlane } from '../support/cluster.ts';
import { startForwardProxy, type ForwardProxy } from '../support/forward-proxy.ts';
import { startSocks5Proxy } from '../support/socks5-proxy.ts';

const NAME = 'kubernetes.proxy.test';

async function startProxy(t: TestContext, credentials?: string): Promise<ForwardProxy> {
  const proxy = await startForwardProxy({
    hosts: { [NAME]: '127.0.0.1' },
    ...(credentials === undefined ? {} : { credentials }),
  });
  t.after(() => proxy.close());
  return proxy;
}

/** The plane's admin client, its server renamed to `host` and loaded with `env` as the operator would be. */
function client(
  t: TestContext,
  host: string,
  env: Record<string, string>,
  proxyUrl?: string,
): { kube: KubeClient; port: string } {
  const loaded = loadKubeConfig({ kubeconfig: testPlane().kubeconfigPath, env });
  const server = new URL(loaded.cluster.server);
  const port = server.port;
  server.hostname = host;
  const kube = new KubeClient(
    {
      ...loaded,
      cluster: {
        ...loaded.cluster,
        server: server.origin,
        tlsServerName: 'kubernetes',
        ...(proxyUrl === undefined ? {} : { proxyUrl }),
      },
    },
    { qps: 0, timeoutMs: 10_000 },
  );
  t.after(() => kube.close());
  return { kube, port };
}

function readNamespace(kube: KubeClient): Promise<{ metadata?: { name?: string } }> {
  return kube.request({ method: 'GET', path: '/api/v1/namespaces/default' });
}

describe('KubeClient through a forward proxy', () => {
  it('HTTPS_PROXY: requests and a watch go through one CONNECT tunnel each, and the watch keeps delivering', async (t) => {
    const proxy = await startProxy(t);
    const namespace = await testNamespace(t, 'client-proxy');
    const { kube, port } = client(t, NAME, { HTTPS_PROXY: proxy.url, NO_PROXY: '.svc,10.0.0.0/8' });
    assert.equal((await readNamespace(kube)).metadata?.name, 'default');
    assert.deepEqual(proxy.tunnels, [`${NAME}:${port}`]);

    const stop = new AbortController();
    t.after(() => stop.abort());
    const events = await openWatch(
      kube,
      `/api/v1/namespaces/${namespace}/configmaps`,
      {},
      stop.signal,
    );
    const seen: string[] = [];
    void (async () => {
      try {
        for await (const event of events) {
          if (event.type === 'ERROR') continue;
          const object = event.object as { metadata?: { name?: string } };
          seen.push(`${event.type} ${object.metadata?.name}`);
        }
      } catch {
        // Ended by the test's abort.
      }
    })();
    const create = (name: string) =>
      kube.request({
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/configmaps`,
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } },
      });
    const waitFor = async (entry: string): Promise<void> => {
      const deadline = Date.now() + 15_000;
      while (!seen.includes(entry)) {
        assert.ok(Date.now() < deadline, `the watch never delivered ${entry}: ${seen.join(', ')}`);
        await sleep(50);
      }
    };
    await create('first');
    await waitFor('ADDED first');
    // A quiet spell on the long-lived tunnel, then more events on the same watch.
    await sleep(5000);
    await create('second');
    await waitFor('ADDED second');
    // One tunnel for the requests' pool, one for the watch; the watch's is still open.
    assert.deepEqual(proxy.tunnels, [`${NAME}:${port}`, `${NAME}:${port}`]);
    assert.equal(proxy.openTunnels(), 2);
    assert.equal(proxy.forwarded.length, 0);
  });

  it('NO_PROXY: a CIDR and IP:port go direct; another port and a suffix that does not match go through', async (t) => {
    const proxy = await startProxy(t);
    const through = async (host: string, noProxy: string): Promise<void> => {
      const before = proxy.tunnels.length;
      const { kube } = client(t, host, { HTTPS_PROXY: proxy.url, NO_PROXY: noProxy });
      await readNamespace(kube);
      assert.equal(proxy.tunnels.length, before + 1, `NO_PROXY=${noProxy} bypassed the proxy`);
    };
    const direct = async (noProxy: string): Promise<void> => {
      const before = proxy.tunnels.length;
      const { kube } = client(t, '0.0.0.0', { HTTPS_PROXY: proxy.url, NO_PROXY: noProxy });
      await readNamespace(kube);
      assert.equal(proxy.tunnels.length, before, `NO_PROXY=${noProxy} went through the proxy`);
    };
    const port = new URL(
      loadKubeConfig({ kubeconfig: testPlane().kubeconfigPath, env: {} }).cluster.server,
    ).port;
    await direct('0.0.0.0/8');
    await direct(`.example.com, 0.0.0.0:${port}`);
    await direct('*');
    await through('0.0.0.0', `0.0.0.0:${Number(port) + 1}`);
    await through(NAME, `.other.test, proxy.test:${Number(port) + 1}`);
    // HTTP_PROXY is for http URLs only: the https apiserver goes direct.
    const { kube } = client(t, '0.0.0.0', { HTTP_PROXY: proxy.url });
    const before = proxy.tunnels.length;
    await readNamespace(kube);
    assert.equal(proxy.tunnels.length, before);
  });

  it('kubeconfig proxy-url: used for every request, whatever NO_PROXY says; user:password authenticates', async (t) => {
    const password = 'kube-pr0xy-pw';
    const proxy = await startProxy(t, `ops:${password}`);
    const { kube, port } = client(
      t,
      NAME,
      { NO_PROXY: '*' },
      `http://ops:${password}@127.0.0.1:${proxy.port}`,
    );
    assert.equal((await readNamespace(kube)).metadata?.name, 'default');
    assert.deepEqual(proxy.tunnels, [`${NAME}:${port}`]);
    assert.deepEqual(proxy.authorizations, [
      `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`,
    ]);
  });

  it('kubeconfig proxy-url socks5 (user and password): requests and a watch go through the SOCKS5 proxy', async (t) => {
    const password = 'socks-pw';
    const socks = await startSocks5Proxy({
      hosts: { [NAME]: '127.0.0.1' },
      credentials: `ops:${password}`,
    });
    t.after(() => socks.close());
    const namespace = await testNamespace(t, 'client-socks');
    const { kube, port } = client(t, NAME, {}, `socks5://ops:${password}@127.0.0.1:${socks.port}`);
    assert.equal((await readNamespace(kube)).metadata?.name, 'default');
    const stop = new AbortController();
    t.after(() => stop.abort());
    const events = await openWatch(
      kube,
      `/api/v1/namespaces/${namespace}/configmaps`,
      {},
      stop.signal,
    );
    const iterator = events[Symbol.asyncIterator]();
    await kube.request({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'via-socks' } },
    });
    const next = await iterator.next();
    assert.equal(next.done, false);
    assert.equal(next.value?.type, 'ADDED');
    assert.deepEqual(socks.tunnels, [`${NAME}:${port}`, `${NAME}:${port}`]);
  });

  it('a proxy that refuses, or wants other credentials, or is down: an Unavailable error naming the proxy, never its password', async (t) => {
    const password = 'kube-pr0xy-pw';
    const proxy = await startProxy(t, `ops:${password}`);
    const failure = async (kube: KubeClient): Promise<Error> => {
      const error = await readNamespace(kube).then(
        () => assert.fail('the call succeeded'),
        (caught: unknown) => caught,
      );
      assert.ok(isKubeApiError(error), String(error));
      assert.equal(error.reason, 'Unavailable');
      assert.ok(!error.message.includes(password), error.message);
      assert.ok(!error.message.includes('ops'), error.message);
      return error;
    };
    const wrong = client(t, NAME, {}, `http://ops:not-${password}@127.0.0.1:${proxy.port}`).kube;
    const denied = await failure(wrong);
    assert.match(
      denied.message,
      new RegExp(
        `the proxy refused the connection to ${NAME}:\\d+ \\(407\\) \\(through proxy http://127\\.0\\.0\\.1:${proxy.port}\\)`,
      ),
    );

    proxy.refuse(true);
    const refused = await failure(
      client(t, NAME, { HTTPS_PROXY: `http://ops:${password}@127.0.0.1:${proxy.port}` }).kube,
    );
    assert.match(refused.message, /\(403\) \(through proxy http:\/\/127\.0\.0\.1:\d+\)/);

    const downPort = proxy.port;
    await proxy.close();
    const down = await failure(
      client(t, NAME, { HTTPS_PROXY: `http://ops:${password}@127.0.0.1:${downPort}` }).kube,
    );
    assert.match(
      down.message,
      new RegExp(`ECONNREFUSED.*\\(through proxy http://127\\.0\\.0\\.1:${downPort}\\)`),
    );
  });
});
