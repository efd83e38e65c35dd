// The proxy rule against Go's own tables (golang.org/x/net/http/httpproxy proxy_test.go, v0.63.0), case for case.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  describeProxy,
  parseProxyUrl,
  proxyConfigFromEnv,
  proxyFor,
  proxyFunc,
  type ProxyConfig,
} from '../../../src/util/proxy-env.ts';
import { throughProxy, unsupportedProxy } from '../../../src/util/proxy-agent.ts';

const NONE: ProxyConfig = { httpProxy: '', httpsProxy: '', noProxy: '', cgi: false };

/** What Go's test prints: the proxy URL, `<nil>` for none, or the error. */
function decide(config: Partial<ProxyConfig>, request = 'http://example.com'): string {
  const decision = proxyFor({ ...NONE, ...config }, new URL(request));
  if (decision.kind === 'direct') return '<nil>';
  if (decision.kind === 'refused') return `error: ${decision.reason}`;
  const { proxy } = decision;
  return `${proxy.protocol}//${proxy.host}${proxy.pathname === '/' ? '' : proxy.pathname}`;
}

// proxyForURLTests: [config, request (blank: http://example.com), want].
const PROXY_FOR_URL: readonly [Partial<ProxyConfig>, string, string][] = [
  [{ httpProxy: '127.0.0.1:8080' }, '', 'http://127.0.0.1:8080'],
  [{ httpProxy: 'cache.corp.example.com:1234' }, '', 'http://cache.corp.example.com:1234'],
  [{ httpProxy: 'cache.corp.example.com' }, '', 'http://cache.corp.example.com'],
  // A single label is read as a scheme by the URL parser.
  [{ httpProxy: 'localhost' }, '', 'http://localhost'],
  [{ httpProxy: 'https://cache.corp.example.com' }, '', 'https://cache.corp.example.com'],
  [{ httpProxy: 'http://127.0.0.1:8080' }, '', 'http://127.0.0.1:8080'],
  [{ httpProxy: 'https://127.0.0.1:8080' }, '', 'https://127.0.0.1:8080'],
  [{ httpProxy: 'socks5://127.0.0.1' }, '', 'socks5://127.0.0.1'],
  // Unknown schemes are kept (the clients then refuse them by name).
  [{ httpProxy: 'foo://host' }, '', 'foo://host'],
  // Don't use the secure proxy for http.
  [
    { httpProxy: 'http.proxy.tld', httpsProxy: 'secure.proxy.tld' },
    'http://insecure.tld/',
    'http://http.proxy.tld',
  ],
  // Use it for https.
  [
    { httpProxy: 'http.proxy.tld', httpsProxy: 'secure.proxy.tld' },
    'https://secure.tld/',
    'http://secure.proxy.tld',
  ],
  [
    { httpProxy: 'http.proxy.tld', httpsProxy: 'https://secure.proxy.tld' },
    'https://secure.tld/',
    'https://secure.proxy.tld',
  ],
  [{ httpProxy: 'http.proxy.tld' }, 'https://secure.tld/', '<nil>'],
  [{ httpProxy: 'http.proxy.tld' }, 'ftp://insecure.tld/', '<nil>'],
  // Issue 16405: HTTP_PROXY is not used in a CGI environment, where a client may set it.
  [
    { httpProxy: 'http://10.1.2.3:8080', cgi: true },
    '',
    'error: refusing to use HTTP_PROXY value in CGI environment; see golang.org/s/cgihttpproxy',
  ],
  // HTTPS_PROXY still is (Go's historical behaviour).
  [
    { httpsProxy: 'https://secure.proxy.tld', cgi: true },
    'https://secure.tld/',
    'https://secure.proxy.tld',
  ],
  [{}, '', '<nil>'],
  [{ noProxy: 'example.com', httpProxy: 'proxy' }, 'http://example.com/', '<nil>'],
  [{ noProxy: '.example.com', httpProxy: 'proxy' }, 'http://example.com/', 'http://proxy'],
  [{ noProxy: 'ample.com', httpProxy: 'proxy' }, 'http://example.com/', 'http://proxy'],
  [{ noProxy: 'example.com', httpProxy: 'proxy' }, 'http://foo.example.com/', '<nil>'],
  [{ noProxy: '.foo.com', httpProxy: 'proxy' }, 'http://example.com/', 'http://proxy'],
  [{ noProxy: '.示例.com', httpProxy: 'proxy' }, 'http://www.示例.com', '<nil>'],
  [{ noProxy: 'xn--fsq092h.com', httpProxy: 'proxy' }, 'http://www.示例.com', '<nil>'],
  [{ noProxy: '示例.com', httpProxy: 'proxy' }, 'http://www.xn--fsq092h.com', '<nil>'],
];

// UseProxyTests, with Go's noProxy list: [host, proxied].
const NO_PROXY_LIST =
  'foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, ' +
  '10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64';
const USE_PROXY: readonly [string, boolean][] = [
  // Never proxy localhost.
  ['localhost', false],
  ['127.0.0.1', false],
  ['127.0.0.2', false],
  ['[::1]', false],
  ['[::2]', true], // not a loopback address
  ['192.168.1.1', false], // matches exact IPv4
  ['192.168.1.2', true], // ports do not match
  ['192.168.1.3', false], // matches exact IPv4:port
  ['192.168.1.4', true], // no match
  ['10.0.0.2', false], // matches IPv4/CIDR
  ['[2001:db8::52:0:1]', false], // matches exact IPv6
  ['[2001:db8::52:0:2]', true], // no match
  ['[2001:db8::52:0:3]', false], // matches exact [IPv6]:port
  ['[2002:db8:a::123]', false], // matches IPv6/CIDR
  ['[fe80::424b:c8be:1643:a1b6]', true], // no match
  ['barbaz.net', true], // does not match as .barbaz.net
  ['www.barbaz.net', false], // does match as .barbaz.net
  ['foobar.com', false], // does match as foobar.com
  ['www.foobar.com', false], // match because NO_PROXY includes "foobar.com"
  ['foofoobar.com', true], // not match as a part of foobar.com
  ['baz.com', true], // not match as a part of barbaz.com
  ['localhost.net', true], // not match as suffix of address
  ['local.localhost', true], // not match as prefix as address
  ['barbarbaz.net', true], // not match, wrong domain
  ['wildcard.io', true], // does not match as *.wildcard.io
  ['nested.wildcard.io', false], // match as *.wildcard.io
  ['awildcard.io', true], // not a match because of '*'
];

function proxied(noProxy: string, host: string): boolean {
  return decide({ httpProxy: 'proxy', noProxy }, `http://${host}:80`) !== '<nil>';
}

describe('proxyFor (Go httpproxy proxyForURLTests)', () => {
  for (const [config, request, want] of PROXY_FOR_URL) {
    it(`${JSON.stringify(config)} ${request || 'http://example.com'} → ${want}`, () => {
      assert.equal(decide(config, request || undefined), want);
    });
  }

  it('the last Go case (a zone in a bracketed host) is no URL here: the clients cannot be given it', () => {
    // Go: NoProxy example.com, req http://[1000::%25.example.com]:123 → http://proxy (no match).
    assert.throws(() => new URL('http://[1000::%25.example.com]:123'));
  });

  it('decides from the settings it was given, not from later changes (Go: after mutating config)', () => {
    const config = { ...NONE, httpProxy: 'proxy' };
    const request = new URL('http://example.com');
    const decide = proxyFunc(config);
    config.httpProxy = '';
    assert.equal(decide(request).kind, 'proxy');
  });
});

describe('NO_PROXY (Go httpproxy UseProxyTests)', () => {
  for (const [host, want] of USE_PROXY) {
    it(`${host}:80 ${want ? 'goes through the proxy' : 'goes direct'}`, () => {
      assert.equal(proxied(NO_PROXY_LIST, host), want);
    });
  }

  it('an invalid entry (":1") neither throws nor matches (TestInvalidNoProxy)', () => {
    assert.equal(proxied(':1', 'example.com'), true);
  });

  it('"*" sends everything direct (TestAllNoProxy)', () => {
    for (const [host] of USE_PROXY) assert.equal(proxied('*', host), false, host);
  });

  it('ports: a default port counts as given, per scheme', () => {
    const config = {
      httpProxy: 'proxy',
      httpsProxy: 'proxy',
      noProxy: 'a.example:443, 10.1.0.0/16',
    };
    assert.equal(decide(config, 'https://a.example/'), '<nil>');
    assert.equal(decide(config, 'https://a.example:8443/'), 'http://proxy');
    assert.equal(decide(config, 'http://a.example/'), 'http://proxy');
    assert.equal(decide(config, 'https://10.1.2.3:6443/'), '<nil>');
    assert.equal(decide(config, 'https://10.2.2.3:6443/'), 'http://proxy');
  });

  it('host names never match IP addresses, nor IP entries names', () => {
    const config = { httpProxy: 'proxy', noProxy: '10.0.0.1, .0.0.1' };
    assert.equal(decide(config, 'http://10.0.0.1/'), '<nil>');
    assert.equal(decide(config, 'http://10.9.0.1/'), 'http://proxy');
  });

  it('entries are trimmed and case-insensitive; IPv4-mapped IPv6 matches IPv4 CIDRs', () => {
    const config = { httpProxy: 'proxy', noProxy: '  Example.COM , 10.0.0.0/8' };
    assert.equal(decide(config, 'http://API.example.com/'), '<nil>');
    assert.equal(decide(config, 'http://[::ffff:10.1.2.3]/'), '<nil>');
  });
});

describe('proxyConfigFromEnv (Go FromEnvironment)', () => {
  it('reads the upper-case variables', () => {
    assert.deepEqual(
      proxyConfigFromEnv({
        HTTP_PROXY: 'httpproxy',
        HTTPS_PROXY: 'httpsproxy',
        NO_PROXY: 'noproxy',
        REQUEST_METHOD: '',
      }),
      { httpProxy: 'httpproxy', httpsProxy: 'httpsproxy', noProxy: 'noproxy', cgi: false },
    );
  });

  it('REQUEST_METHOD set means CGI', () => {
    assert.equal(proxyConfigFromEnv({ HTTP_PROXY: 'p', REQUEST_METHOD: 'PUT' }).cgi, true);
  });

  it('reads the lower-case variables', () => {
    assert.deepEqual(
      proxyConfigFromEnv({
        http_proxy: 'httpproxy',
        https_proxy: 'httpsproxy',
        no_proxy: 'noproxy',
      }),
      { httpProxy: 'httpproxy', httpsProxy: 'httpsproxy', noProxy: 'noproxy', cgi: false },
    );
  });

  it('upper-case wins when both are set, as Go standard library net/http reads them', () => {
    // Go's vendored copy (src/vendor/golang.org/x/net/http/httpproxy, Go 1.26) reads
    // getEnvAny("HTTP_PROXY", "http_proxy"); the compiled 1Password programs use that copy.
    assert.deepEqual(
      proxyConfigFromEnv({
        HTTP_PROXY: 'httpproxyupper',
        HTTPS_PROXY: 'httpsproxyupper',
        NO_PROXY: 'noproxyupper',
        http_proxy: 'httpproxylower',
        https_proxy: 'httpsproxylower',
        no_proxy: 'noproxylower',
      }),
      {
        httpProxy: 'httpproxyupper',
        httpsProxy: 'httpsproxyupper',
        noProxy: 'noproxyupper',
        cgi: false,
      },
    );
  });

  it('an empty variable counts as unset', () => {
    assert.equal(proxyConfigFromEnv({ HTTPS_PROXY: '', https_proxy: 'lower' }).httpsProxy, 'lower');
  });
});

describe('proxy URLs in messages', () => {
  it('never carry the user or password', () => {
    const proxy = parseProxyUrl('http://alice:s3cr%21t@proxy.example:3128');
    assert.ok(proxy);
    assert.equal(describeProxy(proxy), 'http://proxy.example:3128');
    const message = throughProxy('connect failed for alice:s3cr!t and s3cr%21t', proxy);
    assert.ok(!message.includes('s3cr'), message);
    assert.ok(!message.includes('alice'), message);
    assert.match(message, /through proxy http:\/\/proxy\.example:3128/);
  });

  it('unsupported schemes are named', () => {
    assert.match(unsupportedProxy(new URL('foo://host')) ?? '', /unsupported scheme "foo"/);
    assert.equal(unsupportedProxy(new URL('socks5://host:1080')), undefined);
  });
});
