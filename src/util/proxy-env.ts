// Which proxy a URL goes through, decided from HTTPS_PROXY/HTTP_PROXY/NO_PROXY exactly as Go's net/http does (golang.org/x/net/http/httpproxy), so op-kube routes as 1Password's Go programs do.
//
// One pure rule for every client: the Connect client and the apiserver client both ask
// `proxyFor`. Rules, as Go's: HTTPS_PROXY serves https URLs and HTTP_PROXY http ones; the
// upper-case variable wins over the lower-case one (as the copy vendored into Go's standard
// library reads them); HTTP_PROXY is refused when REQUEST_METHOD is set (a CGI environment, where
// a client's `Proxy:` header becomes HTTP_PROXY); a proxy without a scheme is taken as http; one
// that does not parse is ignored. localhost and loopback addresses never go through a proxy.
// NO_PROXY is a comma-separated list of `*` (nothing is proxied), IP addresses and CIDRs
// (`10.0.0.0/8`, `2001:db8::/32`), IP:port (`[::2]:443`), host names matching themselves and
// their subdomains (`example.com`), domain suffixes matching subdomains only (`.example.com`,
// `*.example.com`), each optionally with `:port`. Host names never match IP addresses.
import { domainToASCII } from 'node:url';

/** The proxy settings of an environment, as Go's `httpproxy.Config`. */
export interface ProxyConfig {
  readonly httpProxy: string;
  readonly httpsProxy: string;
  readonly noProxy: string;
  /** REQUEST_METHOD is set: HTTP_PROXY may be a client's header, so it is not used. */
  readonly cgi: boolean;
}

export type ProxyDecision =
  | { readonly kind: 'direct' }
  | { readonly kind: 'proxy'; readonly proxy: URL }
  /** Go fails the request with this message (HTTP_PROXY in a CGI environment). */
  | { readonly kind: 'refused'; readonly reason: string };

export const NO_PROXY_CONFIG: ProxyConfig = {
  httpProxy: '',
  httpsProxy: '',
  noProxy: '',
  cgi: false,
};

type Env = Readonly<Record<string, string | undefined>>;

function firstSet(env: Env, ...names: string[]): string {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return '';
}

/** Reads the environment as Go's `http.ProxyFromEnvironment` does. */
export function proxyConfigFromEnv(env: Env): ProxyConfig {
  return {
    httpProxy: firstSet(env, 'HTTP_PROXY', 'http_proxy'),
    httpsProxy: firstSet(env, 'HTTPS_PROXY', 'https_proxy'),
    noProxy: firstSet(env, 'NO_PROXY', 'no_proxy'),
    cgi: (env.REQUEST_METHOD ?? '') !== '',
  };
}

function tryUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** A proxy setting as Go's parseProxy reads it: `host:port` means `http://host:port`; undefined when empty or unparseable. */
export function parseProxyUrl(text: string): URL | undefined {
  if (text === '') return undefined;
  const url = tryUrl(text);
  if (url === undefined || url.protocol === '' || url.host === '') {
    const prefixed = tryUrl(`http://${text}`);
    if (prefixed !== undefined) return prefixed;
  }
  return url;
}

/** A proxy URL fit for logs and errors: scheme, host and port; never the user or password. */
export function describeProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}

// IP addresses as 16 bytes (IPv4 as IPv4-mapped IPv6), as Go's net.IP.

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    // Go refuses leading zeros (they once meant octal).
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

function parseIPv6(text: string): number[] | undefined {
  if (text.includes('%') || !/^[0-9a-f:.]+$/i.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const words: number[] = [];
    const pieces = half.split(':');
    for (const [index, piece] of pieces.entries()) {
      if (index === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIPv4(piece);
        if (v4 === undefined) return undefined;
        words.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
        continue;
      }
      if (!/^[0-9a-f]{1,4}$/i.test(piece)) return undefined;
      words.push(Number.parseInt(piece, 16));
    }
    return words;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const words = [...head, ...Array<number>(missing).fill(0), ...tail];
  return words.flatMap((word) => [word >> 8, word & 0xff]);
}

/** Go's net.ParseIP: 16 bytes, or undefined. */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]);
  const v6 = parseIPv6(text);
  return v6 === undefined ? undefined : Uint8Array.from(v6);
}

/** The 4 bytes of an IPv4 (or IPv4-mapped) address, as Go's To4. */
function to4(ip: Uint8Array): Uint8Array | undefined {
  for (let i = 0; i < 10; i += 1) if (ip[i] !== 0) return undefined;
  return ip[10] === 0xff && ip[11] === 0xff ? ip.subarray(12) : undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

function isLoopback(ip: Uint8Array): boolean {
  const v4 = to4(ip);
  if (v4 !== undefined) return v4[0] === 127;
  return sameBytes(ip, Uint8Array.from([...Array<number>(15).fill(0), 1]));
}

interface Cidr {
  /** 4 bytes for an IPv4 network, 16 for IPv6, as Go's IPNet. */
  readonly network: Uint8Array;
  readonly bits: number;
}

function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const prefix = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefix)) return undefined;
  const bits = Number(prefix);
  const v4 = parseIPv4(address);
  const network = v4 !== undefined ? Uint8Array.from(v4) : parseIp(address);
  if (network === undefined || bits > network.length * 8) return undefined;
  return { network, bits };
}

function cidrContains(cidr: Cidr, ip: Uint8Array): boolean {
  const candidate = to4(ip) ?? ip;
  if (candidate.length !== cidr.network.length) return false;
  for (let bit = 0; bit < cidr.bits; bit += 1) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if (((candidate[byte] ?? 0) & mask) !== ((cidr.network[byte] ?? 0) & mask)) return false;
  }
  return true;
}

type Matcher =
  | { readonly kind: 'all' }
  | { readonly kind: 'cidr'; readonly cidr: Cidr }
  | { readonly kind: 'ip'; readonly ip: Uint8Array; readonly port: string }
  | {
      readonly kind: 'domain';
      /** With a leading dot. */
      readonly suffix: string;
      readonly port: string;
      /** The entry had no leading dot: it matches the host itself too. */
      readonly matchHost: boolean;
    };

/** Go's net.SplitHostPort, enough for NO_PROXY entries: undefined when there is no port part. */
function splitHostPort(text: string): { host: string; port: string } | undefined {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return undefined;
    return { host: text.slice(1, close), port: text.slice(close + 2) };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0 || text.indexOf(':') !== colon) return undefined;
  return { host: text.slice(0, colon), port: text.slice(colon + 1) };
}

function asciiHost(host: string): string {
  // Go converts names with non-ASCII characters to punycode (IDNA lookup profile).
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(host)) return host;
  const ascii = domainToASCII(host);
  return ascii === '' ? host : ascii;
}

function parseNoProxy(noProxy: string): Matcher[] {
  const matchers: Matcher[] = [];
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return [{ kind: 'all' }];
    const cidr = parseCidr(entry);
    if (cidr !== undefined) {
      matchers.push({ kind: 'cidr', cidr });
      continue;
    }
    let host = entry;
    let port = '';
    const split = splitHostPort(entry);
    if (split !== undefined) {
      if (split.host === '') continue;
      host = split.host;
      port = split.port;
    }
    const ip = parseIp(host);
    if (ip !== undefined) {
      matchers.push({ kind: 'ip', ip, port });
      continue;
    }
    if (host.startsWith('*.')) host = host.slice(1);
    const matchHost = !host.startsWith('.');
    const suffix = asciiHost(matchHost ? `.${host}` : host);
    matchers.push({ kind: 'domain', suffix, port, matchHost });
  }
  return matchers;
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = {
  'http:': '80',
  'https:': '443',
  'socks5:': '1080',
};

function matches(
  matcher: Matcher,
  host: string,
  port: string,
  ip: Uint8Array | undefined,
): boolean {
  switch (matcher.kind) {
    case 'all':
      return true;
    case 'cidr':
      return ip !== undefined && cidrContains(matcher.cidr, ip);
    case 'ip':
      return (
        ip !== undefined &&
        sameBytes(to4(matcher.ip) ?? matcher.ip, to4(ip) ?? ip) &&
        (matcher.port === '' || matcher.port === port)
      );
    case 'domain':
      if (ip !== undefined) return false;
      if (
        host.endsWith(matcher.suffix) ||
        (matcher.matchHost && host === matcher.suffix.slice(1))
      ) {
        return matcher.port === '' || matcher.port === port;
      }
      return false;
  }
}

/** Go's useProxy: false when the host is loopback or NO_PROXY names it. */
function useProxy(matchers: readonly Matcher[], url: URL): boolean {
  // WHATWG URLs keep IPv6 brackets in hostname and drop default ports.
  const host = asciiHost(url.hostname.replace(/^\[(.*)\]$/, '$1')).toLowerCase();
  const port = url.port !== '' ? url.port : (DEFAULT_PORTS[url.protocol] ?? '');
  if (host === 'localhost') return false;
  const ip = parseIp(host);
  if (ip !== undefined && isLoopback(ip)) return false;
  return !matchers.some((matcher) => matches(matcher, host, port, ip));
}

/**
 * Go's `Config.ProxyFunc`: parses the settings once, then decides for each URL. Only http and
 * https URLs are ever proxied.
 */
export function proxyFunc(config: ProxyConfig): (url: URL) => ProxyDecision {
  const httpProxy = parseProxyUrl(config.httpProxy);
  const httpsProxy = parseProxyUrl(config.httpsProxy);
  const matchers = parseNoProxy(config.noProxy);
  return (url) => {
    let proxy: URL | undefined;
    if (url.protocol === 'https:') proxy = httpsProxy;
    else if (url.protocol === 'http:') {
      proxy = httpProxy;
      if (proxy !== undefined && config.cgi) {
        return {
          kind: 'refused',
          reason:
            'refusing to use HTTP_PROXY value in CGI environment; see golang.org/s/cgihttpproxy',
        };
      }
    }
    if (proxy === undefined || !useProxy(matchers, url)) return { kind: 'direct' };
    return { kind: 'proxy', proxy: new URL(proxy.href) };
  };
}

/** The decision for one URL: `proxyFunc(config)(url)`. */
export function proxyFor(config: ProxyConfig, url: URL): ProxyDecision {
  return proxyFunc(config)(url);
}
