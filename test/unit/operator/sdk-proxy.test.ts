// Service-account mode's proxies: the SDK calls the global fetch, which then follows
// HTTPS_PROXY/HTTP_PROXY/NO_PROXY as Go does, checked through a real forward proxy on loopback.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent, setGlobalDispatcher } from 'undici';
import { hasProxy, routeGlobalFetch } from '../../../src/operator/sdk-proxy.ts';
import { NO_PROXY_CONFIG } from '../../../src/util/proxy-env.ts';
import { startForwardProxy, type ForwardProxy } from '../../support/forward-proxy.ts';

describe("service-account mode: the SDK's fetch and the proxy variables", () => {
  let target: Server;
  let port: number;
  let proxy: ForwardProxy;

  before(async () => {
    target = createServer((request, response) => response.end(`hello ${request.url}`));
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    port = (target.address() as AddressInfo).port;
    proxy = await startForwardProxy({ hosts: { 'sdk.proxy.test': '127.0.0.1' } });
  });
  after(async () => {
    setGlobalDispatcher(new Agent());
    await proxy.close();
    await new Promise((resolve) => target.close(resolve));
  });

  it('leaves the global fetch alone when no proxy variable is set', () => {
    assert.equal(hasProxy(NO_PROXY_CONFIG), false);
  });

  it('sends http through HTTP_PROXY, opens a CONNECT tunnel for https, and goes direct for NO_PROXY (CIDR included)', async () => {
    routeGlobalFetch({
      httpProxy: proxy.url,
      httpsProxy: proxy.url,
      noProxy: '10.0.0.0/8,.internal.test',
      cgi: false,
    });
    const response = await fetch(`http://sdk.proxy.test:${port}/v1/x`);
    assert.equal(await response.text(), 'hello /v1/x');
    assert.deepEqual(proxy.forwarded, [`http://sdk.proxy.test:${port}/v1/x`]);

    // my.1password.com's place: the tunnel is opened (the server behind it speaks no TLS, so it fails).
    await fetch(`https://sdk.proxy.test:${port}/`).catch(() => undefined);
    assert.deepEqual(proxy.tunnels, [`sdk.proxy.test:${port}`]);

    // 127.0.0.1 is not in NO_PROXY, but Go never proxies loopback: direct.
    const direct = await fetch(`http://127.0.0.1:${port}/direct`);
    assert.equal(await direct.text(), 'hello /direct');
    assert.equal(proxy.forwarded.length, 1);
    // NO_PROXY by domain and by CIDR: tried directly (and failing here), never through the proxy.
    for (const url of ['http://db.internal.test/', 'http://10.1.2.3/']) {
      await fetch(url, { signal: AbortSignal.timeout(300) }).catch(() => undefined);
    }
    assert.equal(proxy.forwarded.length, 1);
    assert.equal(proxy.tunnels.length, 1);
  });

  it('refuses HTTP_PROXY in a CGI environment, as Go does', async () => {
    routeGlobalFetch({ httpProxy: proxy.url, httpsProxy: '', noProxy: '', cgi: true });
    await assert.rejects(fetch('http://sdk.proxy.test/'), (error: unknown) => {
      const cause = (error as { cause?: Error }).cause;
      assert.match(String(cause?.message), /refusing to use HTTP_PROXY value in CGI environment/);
      return true;
    });
  });
});
