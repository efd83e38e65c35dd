// Proxies for 1Password's SDK: its WASM core calls the global fetch, so in service-account mode the
// global dispatcher decides by HTTPS_PROXY/HTTP_PROXY/NO_PROXY as Go's net/http does (1Password's
// operator), per origin, with the same rules as op-kube's own clients (src/util/proxy-env.ts).
import { Agent, Dispatcher, setGlobalDispatcher } from 'undici';
import { proxyAgent } from '../util/proxy-agent.ts';
import { proxyFunc, type ProxyConfig } from '../util/proxy-env.ts';

/** Routes each request by its origin: direct, or through the proxy Go would pick for it. */
export class GoProxyDispatcher extends Dispatcher {
  readonly #decide: ReturnType<typeof proxyFunc>;
  readonly #direct = new Agent();
  readonly #proxies = new Map<string, Dispatcher>();

  constructor(config: ProxyConfig) {
    super();
    this.#decide = proxyFunc(config);
  }

  override dispatch(
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): boolean {
    const origin = new URL(String(options.origin ?? ''));
    const decision = this.#decide(origin);
    // Go fails such a request (HTTP_PROXY in a CGI environment); the SDK's fetch rejects with this.
    if (decision.kind === 'refused')
      throw new Error(`proxy for ${origin.origin}: ${decision.reason}`);
    if (decision.kind === 'direct') return this.#direct.dispatch(options, handler);
    let agent = this.#proxies.get(decision.proxy.href);
    if (!agent) {
      agent = proxyAgent(decision.proxy, {});
      this.#proxies.set(decision.proxy.href, agent);
    }
    return agent.dispatch(options, handler);
  }

  override async close(): Promise<void> {
    await Promise.all([this.#direct.close(), ...[...this.#proxies.values()].map((a) => a.close())]);
  }
}

/** Whether any proxy variable is set: without one the global fetch is left as Node made it. */
export function hasProxy(config: ProxyConfig): boolean {
  return config.httpProxy !== '' || config.httpsProxy !== '';
}

/** Makes the global fetch (the SDK's) follow the proxy variables; a no-op without any. */
export function routeGlobalFetch(config: ProxyConfig): void {
  if (hasProxy(config)) setGlobalDispatcher(new GoProxyDispatcher(config));
}
