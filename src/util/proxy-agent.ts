// The dispatcher that carries a client's connections through a proxy (undici's ProxyAgent): a CONNECT tunnel for https targets, absolute-form requests for http ones (as Go's Transport), a SOCKS5 handshake for socks5 proxies.
import type { Agent, buildConnector, ProxyAgent as UndiciProxyAgent } from 'undici';
import { ProxyAgent } from './undici.ts';
import { describeProxy } from './proxy-env.ts';

/** The proxy schemes both clients speak: client-go's list (http, https, socks5). */
const SUPPORTED_SCHEMES: ReadonlySet<string> = new Set(['http:', 'https:', 'socks5:']);

/** Why op-kube cannot use `proxy`, or undefined when it can. Never names the proxy's credentials. */
export function unsupportedProxy(proxy: URL): string | undefined {
  if (SUPPORTED_SCHEMES.has(proxy.protocol)) return undefined;
  return (
    `proxy ${describeProxy(proxy)}: unsupported scheme ${JSON.stringify(proxy.protocol.slice(0, -1))}, ` +
    'must be http, https, or socks5'
  );
}

export interface ProxyAgentSettings extends Omit<Agent.Options, 'connect'> {
  /** TLS towards the target (the apiserver, Connect), inside the tunnel. */
  readonly requestTls?: buildConnector.BuildOptions;
}

/**
 * A dispatcher whose every connection goes through `proxy`; user and password in the proxy URL
 * become Proxy-Authorization (Basic), as Go sends them. Throws when the scheme is unsupported.
 */
export function proxyAgent(proxy: URL, settings: ProxyAgentSettings): UndiciProxyAgent {
  const unsupported = unsupportedProxy(proxy);
  if (unsupported !== undefined) throw new TypeError(unsupported);
  return new ProxyAgent({ ...settings, uri: proxy.href });
}

/**
 * `message` with the proxy named, for errors of calls that went through it: a failure may be the
 * proxy's, and the reader must be able to tell. Any credentials of the proxy URL are cut out.
 */
export function throughProxy(message: string, proxy: URL | undefined): string {
  if (proxy === undefined) return message;
  let text = message;
  for (const secret of [proxy.password, proxy.username]) {
    if (secret === '') continue;
    text = text.split(secret).join('[redacted]');
    const decoded = safeDecode(secret);
    if (decoded !== secret && decoded !== '') text = text.split(decoded).join('[redacted]');
  }
  return `${text} (through proxy ${describeProxy(proxy)})`;
}

/**
 * The status a proxy refused a connection with (a CONNECT answered other than 200, or 407 to a
 * forwarded request), from undici's error or its causes; undefined for any other failure.
 */
export function proxyRefusal(error: unknown): number | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth += 1) {
    const match =
      /^Proxy response \((\d{3})\) !== 200 when HTTP Tunneling|^Proxy Authentication Required \((407)\)/.exec(
        current.message,
      );
    if (match) return Number(match[1] ?? match[2]);
    current = current.cause;
  }
  return undefined;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
