// The apiserver client's proxy settings: kubeconfig proxy-url (client-go's schemes), the environment's HTTPS_PROXY/NO_PROXY, and errors that name the proxy but never its password.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KubeClient } from '../../../src/kube/client/client.ts';
import {
  KubeConfigError,
  loadKubeConfig,
  parseKubeConfig,
} from '../../../src/kube/client/kubeconfig.ts';
import { classifyTransportFailure } from '../../../src/kube/client/transport-failure.ts';
import { NO_PROXY_CONFIG } from '../../../src/util/proxy-env.ts';

function kubeconfig(cluster: Record<string, unknown>): string {
  return JSON.stringify({
    clusters: [{ name: 'c', cluster: { server: 'https://api.example:6443', ...cluster } }],
    users: [{ name: 'u', user: { token: 'tok' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
}

describe('kubeconfig proxy-url', () => {
  for (const url of ['http://proxy:3128', 'https://proxy:3129', 'socks5://proxy:1080']) {
    it(`accepts ${url} as client-go does`, () => {
      const doc = parseKubeConfig(kubeconfig({ 'proxy-url': url }), '/k/config');
      assert.equal(doc.clusters[0]?.proxyUrl, url);
    });
  }

  it('refuses other schemes by name, without quoting the URL (it may hold a password)', () => {
    assert.throws(
      () =>
        parseKubeConfig(
          kubeconfig({ 'proxy-url': 'socks4://bob:hunter2@proxy:1080' }),
          '/k/config',
        ),
      (error: Error) =>
        error instanceof KubeConfigError &&
        /cluster c: proxy socks4:\/\/proxy:1080: unsupported scheme "socks4", must be http, https, or socks5/.test(
          error.message,
        ) &&
        !error.message.includes('hunter2'),
    );
    assert.throws(
      () => parseKubeConfig(kubeconfig({ 'proxy-url': 'not a url hunter2' }), '/k/config'),
      (error: Error) =>
        /proxy-url is not a URL/.test(error.message) && !error.message.includes('hunter2'),
    );
  });
});

describe('KubeClient proxy choice', () => {
  const dir = mkdtempSync(join(tmpdir(), 'op-kube-proxy-'));
  const file = join(dir, 'config');
  writeFileSync(file, kubeconfig({}));

  it('loadKubeConfig carries the environment proxy settings (HTTPS_PROXY, no_proxy)', () => {
    const loaded = loadKubeConfig({
      kubeconfig: file,
      env: { HTTPS_PROXY: 'http://p:3128', no_proxy: '.svc' },
    });
    assert.deepEqual(loaded.proxy, {
      ...NO_PROXY_CONFIG,
      httpsProxy: 'http://p:3128',
      noProxy: '.svc',
    });
  });

  it('an environment proxy of an unsupported scheme is refused by name when the client is made', () => {
    const loaded = loadKubeConfig({ kubeconfig: file, env: { HTTPS_PROXY: 'ftp://a:pw@p:21' } });
    assert.throws(
      () => new KubeClient(loaded),
      (error: Error) =>
        /unsupported scheme "ftp"/.test(error.message) && !error.message.includes('pw'),
    );
  });

  it('NO_PROXY naming the apiserver means no proxy, so no proxy error either', async () => {
    const loaded = loadKubeConfig({
      kubeconfig: file,
      env: { HTTPS_PROXY: 'ftp://p:21', NO_PROXY: 'api.example' },
    });
    await new KubeClient(loaded).close();
  });

  it("a proxy's refusal is a connection that could not be made, not an abort", () => {
    const refusal = Object.assign(new Error('Proxy response (403) !== 200 when HTTP Tunneling'), {
      name: 'AbortError',
      code: 'UND_ERR_ABORTED',
    });
    assert.equal(classifyTransportFailure(refusal), 'unreachable');
  });
});
