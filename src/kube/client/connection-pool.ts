// A replaceable pool of connections to the apiserver: undici's Agent, swapped for a fresh one when its connections keep failing, so a broken session cannot outlive a few calls.
import type { Dispatcher } from 'undici';
import { Agent } from '../../util/undici.ts';
import { proxyAgent } from '../../util/proxy-agent.ts';
import type { TransportFailureKind } from './transport-failure.ts';

/** TLS settings of every connection in the pool, as undici's `connect` takes them. */
export interface PoolTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

export interface PoolSettings {
  /** Names the pool in events, e.g. `requests` or `watches`. */
  readonly name: string;
  /** Connections per origin; undefined for no cap. */
  readonly connections: number | undefined;
  /** Negotiate HTTP/2 by ALPN; false speaks HTTP/1.1 only (decision 011). */
  readonly http2: boolean;
  readonly tls: PoolTls;
  /** Idle connections are closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /**
   * A replaced pool keeps serving the calls already on it this long, then is destroyed; 0
   * destroys it at once (its calls fail and their callers retry, as watches do).
   */
  readonly drainMs: number;
  /** Failures of kind `connection` or `timeout` in a row, with no answer between, that replace the pool. */
  readonly failureThreshold: number;
  /** Every connection goes through this proxy (a CONNECT tunnel to an https apiserver); undefined: direct. */
  readonly proxy?: URL;
}

/** Which pool generation carried a call, so a failure on a pool already replaced is not held against its successor. */
export interface Lease {
  readonly dispatcher: Dispatcher;
  readonly generation: number;
}

export interface PoolReplaced {
  readonly pool: string;
  /** The failure kind that made the pool go. */
  readonly reason: TransportFailureKind;
  /** Failures in a row on the replaced pool. */
  readonly consecutive: number;
  /** Replacements of this pool so far, this one included. */
  readonly replacements: number;
}

/** What to do after a failure: pure, so the policy is tested without sockets. */
export function shouldReplace(
  kind: TransportFailureKind,
  consecutive: number,
  threshold: number,
): boolean {
  if (kind === 'session') return true;
  if (kind === 'connection' || kind === 'timeout') return consecutive >= threshold;
  return false;
}

function createAgent(settings: PoolSettings): Dispatcher {
  const { tls } = settings;
  const common = {
    allowH2: settings.http2,
    ...(settings.connections !== undefined ? { connections: settings.connections } : {}),
    keepAliveTimeout: settings.keepAliveTimeoutMs,
  };
  const connect = {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
  };
  // Through a proxy, the apiserver's TLS runs inside the tunnel: same CA, client certificate and
  // server name as a direct connection.
  if (settings.proxy !== undefined)
    return proxyAgent(settings.proxy, { ...common, requestTls: connect });
  return new Agent({ ...common, connect });
}

/** Closes `agent` once its calls are done, or destroys it (failing them) after `drainMs`. */
async function retire(agent: Dispatcher, drainMs: number): Promise<void> {
  if (drainMs <= 0) {
    await agent.destroy().catch(() => undefined);
    return;
  }
  // close() waits for the calls on it; a call stuck on a dead connection is cut at drainMs.
  const timer = setTimeout(() => void agent.destroy().catch(() => undefined), drainMs);
  timer.unref();
  await agent
    .close()
    .catch(() => undefined)
    .finally(() => clearTimeout(timer));
}

export class ConnectionPool {
  readonly #settings: PoolSettings;
  readonly #onReplace: ((event: PoolReplaced) => void) | undefined;
  #agent: Dispatcher;
  #generation = 0;
  #consecutive = 0;
  #replacements = 0;

  constructor(settings: PoolSettings, onReplace?: (event: PoolReplaced) => void) {
    this.#settings = settings;
    this.#onReplace = onReplace;
    this.#agent = createAgent(settings);
  }

  get replacements(): number {
    return this.#replacements;
  }

  lease(): Lease {
    return { dispatcher: this.#agent, generation: this.#generation };
  }

  /** The apiserver answered (any status): the connection works. */
  answered(lease: Lease): void {
    if (lease.generation === this.#generation) this.#consecutive = 0;
  }

  /** A call on `lease` failed without an answer; replaces the pool when the failures say it is broken. */
  failed(lease: Lease, kind: TransportFailureKind): void {
    if (lease.generation !== this.#generation) return;
    if (kind === 'connection' || kind === 'timeout' || kind === 'session') this.#consecutive += 1;
    if (!shouldReplace(kind, this.#consecutive, this.#settings.failureThreshold)) return;
    const consecutive = this.#consecutive;
    this.#replace();
    this.#onReplace?.({
      pool: this.#settings.name,
      reason: kind,
      consecutive,
      replacements: this.#replacements,
    });
  }

  #replace(): void {
    const previous = this.#agent;
    this.#agent = createAgent(this.#settings);
    this.#generation += 1;
    this.#consecutive = 0;
    this.#replacements += 1;
    void retire(previous, this.#settings.drainMs);
  }

  /** Lets the calls in flight finish (for at most `drainMs`), then closes every connection. */
  async close(): Promise<void> {
    await retire(this.#agent, this.#settings.drainMs);
  }
}
