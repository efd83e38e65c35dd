// The Connect client through a real forward proxy on loopback: HTTP_PROXY/HTTPS_PROXY/NO_PROXY as Go's net/http applies them.
//
// Loopback is never proxied (Go's rule), so the tests name Connect in two other ways: a name only
// the proxy resolves (`connect.proxy.test`, reachable through it and only through it) and
// 0.0.0.0, which is no loopback address for the rule but reaches this machine's listeners.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConnectClient } from '../../../src/connect/index.ts';
import {
  generateCertificateAuthority,
  issueServingCertificate,
} from '../../../src/webhook/tls/certificates.ts';
import { operatorClients } from '../../../src/operator/clients.ts';
import type { OperatorConfig } from '../../../src/operator/config.ts';
import { NO_PROXY_CONFIG, type ProxyConfig } from '../../../src/util/proxy-env.ts';
import { startForwardProxy, type ForwardProxy } from '../../support/forward-proxy.ts';
import { closedPort, json, startStub, type Stub } from './stub-server.ts';

const TOKEN = 'connect-token-7f3a9c';
const NAME = 'connect.proxy.test';

async function setup(
  t: TestContext,
  credentials?: string,
): Promise<{ stub: Stub; proxy: ForwardProxy; port: number }> {
  const stub = await startStub(t, () => json(200, []));
  const proxy = await startForwardProxy({
    hosts: { [NAME]: '127.0.0.1' },
    ...(credentials === undefined ? {} : { credentials }),
  });
  t.after(() => proxy.close());
  return { stub, proxy, port: Number(new URL(stub.url).port) };
}

function client(t: TestContext, host: string, proxy: Partial<ProxyConfig>): ConnectClient {
  const connect = new ConnectClient({
    host,
    token: TOKEN,
    retries: 0,
    timeoutMs: 5000,
    proxy: { ...NO_PROXY_CONFIG, ...proxy },
  });
  t.after(() => connect.close());
  return connect;
}

describe('Connect client and proxies', () => {
  it('goes through HTTP_PROXY for an http host: the request reaches Connect with its token', async (t) => {
    const { stub, proxy, port } = await setup(t);
    const connect = client(t, `http://${NAME}:${port}`, { httpProxy: proxy.url });
    assert.deepEqual(await connect.listVaults(), []);
    assert.deepEqual(proxy.forwarded, [`http://${NAME}:${port}/v1/vaults`]);
    assert.equal(stub.received.length, 1);
    assert.equal(stub.received[0]?.headers.authorization, `Bearer ${TOKEN}`);
  });

  it('a proxy given as host:port (no scheme) is http, as Go reads it', async (t) => {
    const { proxy, port } = await setup(t);
    const connect = client(t, `http://${NAME}:${port}`, { httpProxy: `127.0.0.1:${proxy.port}` });
    await connect.listVaults();
    assert.equal(proxy.forwarded.length, 1);
  });

  it('HTTPS_PROXY alone leaves an http host direct', async (t) => {
    const { stub, proxy, port } = await setup(t);
    const connect = client(t, `http://0.0.0.0:${port}`, { httpsProxy: proxy.url });
    await connect.listVaults();
    assert.equal(proxy.forwarded.length + proxy.tunnels.length, 0);
    assert.equal(stub.received.length, 1);
  });

  it('NO_PROXY: a CIDR, an IP:port and * bypass the proxy; another port, a name suffix that does not match, do not', async (t) => {
    const { stub, proxy, port } = await setup(t);
    const direct = async (noProxy: string): Promise<void> => {
      const before = proxy.forwarded.length;
      await client(t, `http://0.0.0.0:${port}`, { httpProxy: proxy.url, noProxy }).listVaults();
      assert.equal(proxy.forwarded.length, before, `NO_PROXY=${noProxy} went through the proxy`);
    };
    const proxied = async (host: string, noProxy: string): Promise<void> => {
      const before = proxy.forwarded.length;
      await client(t, host, { httpProxy: proxy.url, noProxy }).listVaults();
      assert.equal(proxy.forwarded.length, before + 1, `NO_PROXY=${noProxy} bypassed the proxy`);
    };
    await direct('0.0.0.0/8');
    await direct(`example.com, 0.0.0.0:${port}`);
    await direct('*');
    await proxied(`http://0.0.0.0:${port}`, `0.0.0.0:${port + 1}`);
    await proxied(`http://0.0.0.0:${port}`, '10.0.0.0/8, .0.0.0');
    await proxied(`http://${NAME}:${port}`, `.other.test, proxy.test:${port + 1}`);
    assert.equal(stub.received.length, 6);
  });

  it('a proxy that refuses gives an error naming the proxy, never the token', async (t) => {
    const { stub, proxy, port } = await setup(t);
    proxy.refuse(true);
    const connect = client(t, `http://${NAME}:${port}`, { httpProxy: proxy.url });
    const error = await connect.listVaults().then(
      () => assert.fail('the refused call succeeded'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof Error);
    assert.match(error.message, /403/);
    assert.ok(error.message.includes(`through proxy ${proxy.url}`), error.message);
    assert.ok(!JSON.stringify({ ...error, message: error.message }).includes(TOKEN));
    assert.equal(stub.received.length, 0);
  });

  it('a proxy that is down gives an error naming the proxy', async (t) => {
    const { port } = await setup(t);
    const down = await closedPort();
    const connect = client(t, `http://${NAME}:${port}`, { httpProxy: `http://127.0.0.1:${down}` });
    await assert.rejects(connect.listVaults(), (error: Error) => {
      assert.match(error.message, /ECONNREFUSED/);
      assert.ok(error.message.includes(`through proxy http://127.0.0.1:${down}`), error.message);
      return true;
    });
  });

  it('user:password in the proxy URL authenticates to the proxy and appears in no error', async (t) => {
    const password = 'pr0xy-s3cret';
    const { proxy, port } = await setup(t, `alice:${password}`);
    const host = `http://${NAME}:${port}`;
    const good = client(t, host, { httpProxy: `http://alice:${password}@127.0.0.1:${proxy.port}` });
    await good.listVaults();
    assert.deepEqual(proxy.authorizations, [
      `Basic ${Buffer.from(`alice:${password}`).toString('base64')}`,
    ]);
    const wrong = client(t, host, {
      httpProxy: `http://alice:not-${password}@127.0.0.1:${proxy.port}`,
    });
    await assert.rejects(wrong.listVaults(), (error: Error) => {
      assert.match(error.message, /407/);
      assert.ok(error.message.includes(`through proxy ${proxy.url}`), error.message);
      assert.ok(!error.message.includes(password), error.message);
      assert.ok(!error.message.includes('alice'), error.message);
      return true;
    });
  });

  it("the operator's Connect clients take HTTP_PROXY/NO_PROXY from its environment", async (t) => {
    const { stub, proxy, port } = await setup(t);
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'op-kube-proxy-')), 'config');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const config = {
      kubeconfig,
      kubeApi: { qps: 0, burst: 1 },
      connect: { host: `http://${NAME}:${port}`, token: TOKEN },
    } as unknown as OperatorConfig;
    const hooks = {
      onPoolReplaced: () => undefined,
      onConnectCall: () => undefined,
      onSdkCall: () => undefined,
    };
    const clients = operatorClients(config, { HTTP_PROXY: proxy.url, NO_PROXY: '.svc' }, hooks);
    t.after(() => clients.close());
    await clients.connect.listVaults();
    await clients.poll.listVaults();
    assert.equal(proxy.forwarded.length, 2);
    assert.equal(stub.received.length, 2);
  });

  it('an https Connect with a private CA: HTTPS_PROXY opens a CONNECT tunnel, TLS to Connect inside it; a refused CONNECT names the proxy', async (t) => {
    const now = new Date();
    const day = 24 * 60 * 60 * 1000;
    const ca = await generateCertificateAuthority({
      now,
      validityMs: day,
      commonName: `proxy-test@${now.getTime()}`,
    });
    const serving = await issueServingCertificate(ca, { dnsNames: [NAME], now, validityMs: day });
    const authorizations: (string | undefined)[] = [];
    const server = createHttpsServer({ cert: serving.cert, key: serving.key }, (req, res) => {
      authorizations.push(req.headers.authorization);
      res.writeHead(200, {
        'content-type': 'application/json',
        '1Password-Connect-Version': '1.7.3',
      });
      res.end('[]');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    const proxy = await startForwardProxy({ hosts: { [NAME]: '127.0.0.1' } });
    t.after(() => proxy.close());
    const connect = new ConnectClient({
      host: `https://${NAME}:${port}`,
      token: TOKEN,
      ca: ca.cert,
      retries: 0,
      proxy: { ...NO_PROXY_CONFIG, httpsProxy: proxy.url, httpProxy: 'http://127.0.0.1:9' },
    });
    t.after(() => connect.close());
    assert.deepEqual(await connect.listVaults(), []);
    assert.deepEqual(proxy.tunnels, [`${NAME}:${port}`]);
    assert.deepEqual(authorizations, [`Bearer ${TOKEN}`]);

    proxy.refuse(true);
    const refused = new ConnectClient({
      host: `https://${NAME}:${port}`,
      token: TOKEN,
      ca: ca.cert,
      retries: 0,
      proxy: { ...NO_PROXY_CONFIG, httpsProxy: proxy.url },
    });
    t.after(() => refused.close());
    await assert.rejects(refused.listVaults(), (error: Error) => {
      assert.match(error.message, /Proxy response \(403\)/);
      assert.ok(error.message.includes(`through proxy ${proxy.url}`), error.message);
      assert.ok(!error.message.includes(TOKEN), error.message);
      return true;
    });
    assert.equal(authorizations.length, 1);
  });

  it('HTTP_PROXY in a CGI environment (REQUEST_METHOD set) is refused, as Go refuses it', () => {
    assert.throws(
      () =>
        new ConnectClient({
          host: 'http://connect:8080',
          token: TOKEN,
          proxy: { ...NO_PROXY_CONFIG, httpProxy: 'http://p:3128', cgi: true },
        }),
      /refusing to use HTTP_PROXY value in CGI environment/,
    );
  });

  it('an unsupported proxy scheme is refused by name', () => {
    assert.throws(
      () =>
        new ConnectClient({
          host: 'http://connect:8080',
          token: TOKEN,
          proxy: { ...NO_PROXY_CONFIG, httpProxy: 'ftp://user:pw@p:21' },
        }),
      (error: Error) =>
        /unsupported scheme "ftp"/.test(error.message) && !error.message.includes('pw'),
    );
  });
});
