// client-go's reflector: lists a resource (paginated) and watches it from the list's resourceVersion, per namespace, relisting on 410 and reconnecting with backoff; it hands every change to its target.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { KubeApiError, toKubeApiError } from '../client/api-error.ts';
import type { KubeClient } from '../client/client.ts';
import { changesFor, diffRelist, objectKey, type CacheChange } from './store.ts';
import {
  isResourceExpired,
  isResourceVersionTooLarge,
  listPage,
  openWatch,
  type WatchEvent,
} from './watch.ts';

/** What a list function is asked for: one page of one namespace (or of every namespace). */
export interface ListRequest {
  /** Undefined: list across all namespaces, or a cluster-scoped resource. */
  readonly namespace: string | undefined;
  readonly labelSelector: string | undefined;
  readonly fieldSelector: string | undefined;
  readonly limit: number;
  /** Named as client-node's generated clients name it, so a request can be spread into one. */
  readonly _continue: string | undefined;
  /** Aborted when the informer stops or the request times out. */
  readonly signal: AbortSignal;
}

export type ListFunction<T extends KubernetesObject> = (
  request: ListRequest,
) => Promise<KubernetesListObject<T>>;

export interface BackoffOptions {
  /** Ceiling of the first delay; default 800 ms (client-go's). */
  readonly initialMs?: number;
  /** Ceiling of every delay; default 30 s. */
  readonly maxMs?: number;
}

export type ListReason = 'initial' | 'expired';

/** What a reflector went through, for metrics and logs. Errors carry no object data. */
export type ReflectorEvent =
  | {
      readonly type: 'listed';
      readonly namespace: string | undefined;
      readonly reason: ListReason;
      readonly objects: number;
      readonly added: number;
      readonly updated: number;
      readonly deleted: number;
      readonly durationMs: number;
    }
  | {
      readonly type: 'watching';
      readonly namespace: string | undefined;
      readonly resourceVersion: string;
    }
  /** The watch's resourceVersion is gone (410) or not yet known (too large): a relist follows. */
  | {
      readonly type: 'expired';
      readonly namespace: string | undefined;
      readonly error: KubeApiError;
      readonly retryInMs: number;
    }
  /** A list or watch failed, or a watch stalled (reason `WatchStalled`) or ended at once (`WatchClosed`). */
  | {
      readonly type: 'failure';
      readonly namespace: string | undefined;
      readonly phase: 'list' | 'watch';
      readonly error: KubeApiError;
      readonly consecutive: number;
      readonly retryInMs: number;
    };

/** How a reflector lists and watches (an informer's options, but for resync and handlers). */
export interface ReflectorOptions<T extends KubernetesObject> {
  readonly client: KubeClient;
  /**
   * The resource's collection path. A namespaced resource is given in its namespaced form with a
   * `{namespace}` placeholder, e.g. `/api/v1/namespaces/{namespace}/secrets`: with `namespaces` it is
   * filled in per namespace, without them `/namespaces/{namespace}` is dropped to watch them all.
   * A cluster-scoped resource is given as is, e.g. `/api/v1/namespaces`.
   */
  readonly path: string;
  /**
   * Namespaces to watch (WATCH_NAMESPACE may name several): one list+watch each, one shared cache.
   * Undefined or empty: all namespaces, through one cluster-wide list+watch.
   */
  readonly namespaces?: readonly string[];
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /**
   * Lists one page. Default: a GET of `path`, so listed and watched objects have the same shape (the
   * API's JSON; client-node's typed lists turn timestamps into Dates, its watches do not). A given
   * function must honour the request's namespace, selectors, limit and `_continue`.
   */
  readonly list?: ListFunction<T>;
  /** Turns an object as the API sent it into T; applied to watched objects and default-listed ones. */
  readonly decode?: (raw: KubernetesObject) => T;
  /**
   * A watch silent for this long is re-established. The apiserver sends a bookmark about once a
   * minute, so silence this long means a dead connection; default 3 minutes.
   */
  readonly watchdogMs?: number;
  readonly backoff?: BackoffOptions;
  /** Objects per LIST page; default 500. */
  readonly pageSize?: number;
  /** Told of lists, failures and relists (for metrics); must not throw, is guarded anyway. */
  readonly observe?: (event: ReflectorEvent) => void;
  /** Names the cache in error messages; default the path. */
  readonly name?: string;
}

/** What a reflector reads to compute changes, and where it hands them (an informer: its store, then its handlers). */
export interface ReflectorTarget<T> {
  /** The cached object a watch event is compared with. */
  get(namespace: string | undefined, name: string): T | undefined;
  /** The cached objects of one namespace, or of all: what a list is compared with. */
  list(namespace?: string): T[];
  apply(change: CacheChange<T>): void;
  /** Every namespace has been listed in full once (and its changes applied). */
  synced(): void;
}

const DEFAULT_WATCHDOG_MS = 180_000;
const DEFAULT_PAGE_SIZE = 500;
/** Limit for each LIST page, and for the apiserver to accept a watch. */
const REQUEST_TIMEOUT_MS = 60_000;
/** A watch that ends sooner than this without delivering anything counts as a failure. */
const MIN_HEALTHY_WATCH_MS = 1_000;

/**
 * The resourceVersion to resume from after `event`: that of every object event and bookmark, so a
 * reconnect neither replays nor skips; an ERROR event leaves it as it was.
 */
export function nextResourceVersion(current: string, event: WatchEvent): string {
  if (event.type === 'ERROR') return current;
  const version = event.object.metadata?.resourceVersion;
  return typeof version === 'string' && version !== '' ? version : current;
}

/**
 * The delay before retry number `attempt` (1-based): uniformly random in [c/2, c) where
 * c = min(maxMs, initialMs · 2^(attempt−1)). The floor keeps a flapping apiserver from being hit in
 * a tight loop; the jitter keeps many informers from reconnecting in step.
 */
export function reconnectDelay(
  attempt: number,
  { initialMs = 800, maxMs = 30_000 }: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(exponent, 52));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/** What a list+watch should do after a watch failed with `error`. */
export function recoveryFor(error: KubeApiError): 'relist' | 'retry' {
  return isResourceExpired(error) || isResourceVersionTooLarge(error) ? 'relist' : 'retry';
}

/** client-go's spread of server-side watch timeouts, so watches of many informers end apart. */
function watchTimeoutSeconds(): number {
  return 300 + Math.floor(Math.random() * 300);
}

/** The path of one namespace, or of all of them when `namespace` is undefined. */
export function scopePath(template: string, namespace: string | undefined): string {
  if (namespace !== undefined)
    return template.replaceAll('{namespace}', encodeURIComponent(namespace));
  return template.replace('/namespaces/{namespace}', '');
}

interface Scope {
  readonly namespace: string | undefined;
  readonly path: string;
  resourceVersion: string;
  needsList: boolean;
  listReason: ListReason;
  synced: boolean;
  failures: number;
  /** Expirations since a watch last delivered something: a second one in a row backs off. */
  expirations: number;
  lastError: KubeApiError | undefined;
}

/** A signal that aborts with its parent or after `ms`; `dispose` clears the timer. */
function deadline(parent: AbortSignal, ms: number): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => {
    controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError'));
  }, ms);
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}

/** `promise`, or a rejection as soon as `signal` aborts (for list functions that ignore it). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(toKubeApiError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(toKubeApiError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(toKubeApiError(error));
      },
    );
  });
}

/**
 * Keeps a target current with one resource by list+watch.
 *
 * - `start()` lists (consistent read, paginated) and then watches from the list's resourceVersion
 *   with bookmarks; every object event and bookmark moves the resume point.
 * - 410 Gone (HTTP status or ERROR event) or "too large resource version": relist at once (backing
 *   off if it repeats) and apply the difference to the cache: adds, updates, and deletes of objects
 *   that vanished meanwhile (`finalStateUnknown`), so no change is lost.
 * - Any other failure, a watch the server ends, or one silent past `watchdogMs`: watch again from
 *   the last resourceVersion, after an exponential, jittered, capped backoff when it was a failure.
 * - Once `stop()` resolves no request, socket or timer of the reflector is left.
 */
export class Reflector<T extends KubernetesObject> {
  readonly #options: ReflectorOptions<T>;
  readonly #target: ReflectorTarget<T>;
  readonly #name: string;
  readonly #scopes: Scope[];
  readonly #abort = new AbortController();
  #stopped = false;
  #loops: Promise<void>[] = [];

  /** Throws for namespaces the path cannot hold. */
  constructor(options: ReflectorOptions<T>, target: ReflectorTarget<T>) {
    this.#options = options;
    this.#target = target;
    this.#name = options.name ?? options.path;
    const namespaces = [...new Set(options.namespaces ?? [])];
    const templated = options.path.includes('{namespace}');
    if (namespaces.length > 0 && !templated) {
      throw new Error(`${this.#name}: namespaces given but the path has no {namespace}`);
    }
    if (namespaces.some((namespace) => namespace === '')) {
      throw new Error(`${this.#name}: an empty namespace name`);
    }
    if (namespaces.length === 0 && templated && !options.path.includes('/namespaces/{namespace}')) {
      throw new Error(`${this.#name}: cannot watch all namespaces of ${options.path}`);
    }
    const scopeOf = (namespace: string | undefined): Scope => ({
      namespace,
      path: scopePath(options.path, namespace),
      resourceVersion: '',
      needsList: true,
      listReason: 'initial',
      synced: false,
      failures: 0,
      expirations: 0,
      lastError: undefined,
    });
    this.#scopes = namespaces.length > 0 ? namespaces.map(scopeOf) : [scopeOf(undefined)];
  }

  /** True once every namespace has been listed in full (and the changes applied). */
  hasSynced(): boolean {
    return this.#scopes.every((scope) => scope.synced);
  }

  /** The last error of each namespace not yet synced, as ` (last error …)`, or ''. */
  lastErrors(): string {
    const errors = this.#scopes.flatMap((scope) =>
      !scope.synced && scope.lastError
        ? [
            `${scope.namespace ?? 'all namespaces'}: ${scope.lastError.reason}: ${scope.lastError.message}`,
          ]
        : [],
    );
    return errors.length > 0 ? ` (last error ${errors.join('; ')})` : '';
  }

  /** Starts one list+watch loop per namespace; returns at once. The caller starts it once. */
  start(): void {
    this.#loops = this.#scopes.map((scope) => this.#run(scope));
  }

  /** Aborts requests and timers at once; resolves once every loop has ended. */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#abort.abort(new DOMException('informer stopped', 'AbortError'));
    }
    await Promise.allSettled(this.#loops);
  }

  async #run(scope: Scope): Promise<void> {
    while (!this.#stopped) {
      try {
        if (scope.needsList && !(await this.#list(scope))) continue;
        // A handler may have stopped the informer (and so this reflector) during the list.
        if (this.#stopped) break;
        await this.#watch(scope);
      } catch (error) {
        // Only a bug gets here (the steps handle API failures); keep the cache alive regardless.
        if (!this.#stopped) await this.#fail(scope, 'watch', toKubeApiError(error));
      }
    }
  }

  #observe(event: ReflectorEvent): void {
    try {
      this.#options.observe?.(event);
    } catch {
      // Metrics must never take the cache down.
    }
  }

  async #pause(ms: number): Promise<void> {
    if (ms <= 0 || this.#stopped) return;
    await sleep(ms, undefined, { signal: this.#abort.signal }).catch(() => undefined);
  }

  async #fail(scope: Scope, phase: 'list' | 'watch', error: KubeApiError): Promise<void> {
    scope.failures += 1;
    scope.lastError = error;
    const retryInMs = reconnectDelay(scope.failures, this.#options.backoff);
    this.#observe({
      type: 'failure',
      namespace: scope.namespace,
      phase,
      error,
      consecutive: scope.failures,
      retryInMs,
    });
    await this.#pause(retryInMs);
  }

  async #expire(scope: Scope, error: KubeApiError): Promise<void> {
    scope.expirations += 1;
    scope.needsList = true;
    scope.listReason = 'expired';
    // The first relist is immediate, as client-go's; only a relist that expires again backs off.
    const retryInMs =
      scope.expirations > 1 ? reconnectDelay(scope.expirations - 1, this.#options.backoff) : 0;
    this.#observe({ type: 'expired', namespace: scope.namespace, error, retryInMs });
    await this.#pause(retryInMs);
  }

  async #listAll(scope: Scope): Promise<{ items: T[]; resourceVersion: string }> {
    const { client, decode, labelSelector, fieldSelector } = this.#options;
    const limit = this.#options.pageSize ?? DEFAULT_PAGE_SIZE;
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = deadline(this.#abort.signal, REQUEST_TIMEOUT_MS);
      try {
        const request: ListRequest = {
          namespace: scope.namespace,
          labelSelector,
          fieldSelector,
          limit,
          _continue: continueToken,
          signal: page.signal,
        };
        const custom = this.#options.list;
        const list = custom
          ? await untilAborted(custom(request), page.signal)
          : await listPage(
              client,
              scope.path,
              { labelSelector, fieldSelector, limit, continue: continueToken },
              page.signal,
            );
        // List items carry no kind; watched objects do. Give them one so both look alike.
        const kind = list.kind?.replace(/List$/, '');
        for (const item of list.items) {
          if (item.kind === undefined && kind) item.kind = kind;
          if (item.apiVersion === undefined && list.apiVersion) item.apiVersion = list.apiVersion;
          items.push(custom || !decode ? (item as T) : decode(item));
        }
        // client-node's models call it `_continue`, the API's JSON `continue`.
        const meta: { resourceVersion?: string; _continue?: string; continue?: string } =
          list.metadata ?? {};
        resourceVersion = meta.resourceVersion ?? '';
        continueToken = meta._continue || meta.continue || undefined;
      } finally {
        page.dispose();
      }
    } while (continueToken !== undefined);
    if (resourceVersion === '') {
      throw new KubeApiError(
        { status: 200, reason: 'InvalidResponse' },
        `LIST ${scope.path}: no resourceVersion`,
      );
    }
    return { items, resourceVersion };
  }

  /** Lists the scope and reconciles the cache with it; false when it failed (after backing off). */
  async #list(scope: Scope): Promise<boolean> {
    const started = performance.now();
    let listed: { items: T[]; resourceVersion: string };
    try {
      listed = await this.#listAll(scope);
    } catch (error) {
      if (!this.#stopped) await this.#fail(scope, 'list', toKubeApiError(error));
      return false;
    }
    if (this.#stopped) return false;
    const changes = diffRelist(this.#cachedIn(scope), listed.items);
    const counts = { add: 0, update: 0, delete: 0 };
    for (const change of changes) {
      counts[change.type] += 1;
      this.#target.apply(change);
    }
    scope.resourceVersion = listed.resourceVersion;
    scope.needsList = false;
    scope.failures = 0;
    scope.lastError = undefined;
    this.#observe({
      type: 'listed',
      namespace: scope.namespace,
      reason: scope.listReason,
      objects: listed.items.length,
      added: counts.add,
      updated: counts.update,
      deleted: counts.delete,
      durationMs: Math.round(performance.now() - started),
    });
    if (!scope.synced) {
      scope.synced = true;
      if (this.hasSynced()) this.#target.synced();
    }
    return true;
  }

  async #watch(scope: Scope): Promise<void> {
    const { client, labelSelector, fieldSelector } = this.#options;
    const watchdogMs = this.#options.watchdogMs ?? DEFAULT_WATCHDOG_MS;
    const controller = new AbortController();
    const onStop = (): void => controller.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener('abort', onStop, { once: true });
    // First the limit for the apiserver to accept the watch, then the watchdog's silence limit.
    let limitMs = REQUEST_TIMEOUT_MS;
    let stalled = false;
    const onSilence = (): void => {
      stalled = true;
      controller.abort(new DOMException('watch stalled', 'TimeoutError'));
    };
    let timer = setTimeout(onSilence, limitMs);
    const opened = performance.now();
    let delivered = false;
    try {
      const events = await openWatch(
        client,
        scope.path,
        {
          resourceVersion: scope.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: watchTimeoutSeconds(),
          labelSelector,
          fieldSelector,
        },
        controller.signal,
      );
      limitMs = watchdogMs;
      clearTimeout(timer);
      timer = setTimeout(onSilence, limitMs);
      this.#observe({
        type: 'watching',
        namespace: scope.namespace,
        resourceVersion: scope.resourceVersion,
      });
      for await (const event of events) {
        if (this.#stopped) return;
        timer.refresh();
        if (event.type === 'ERROR') throw event.error;
        delivered = true;
        scope.failures = 0;
        scope.expirations = 0;
        this.#handle(scope, event);
      }
    } catch (error) {
      if (this.#stopped) return;
      const failure = stalled
        ? new KubeApiError(
            { status: 0, reason: 'WatchStalled' },
            `no answer or watch event for ${limitMs} ms`,
          )
        : toKubeApiError(error);
      if (recoveryFor(failure) === 'relist') await this.#expire(scope, failure);
      else await this.#fail(scope, 'watch', failure);
      return;
    } finally {
      clearTimeout(timer);
      this.#abort.signal.removeEventListener('abort', onStop);
      controller.abort();
    }
    // The server ended the watch (its timeoutSeconds): resume at once, unless it ended empty-handed
    // right away, which repeated would be a tight loop.
    if (!this.#stopped && !delivered && performance.now() - opened < MIN_HEALTHY_WATCH_MS) {
      await this.#fail(
        scope,
        'watch',
        new KubeApiError({ status: 200, reason: 'WatchClosed' }, 'the watch ended at once'),
      );
    }
  }

  #handle(scope: Scope, event: WatchEvent): void {
    if (event.type === 'ERROR') return;
    scope.resourceVersion = nextResourceVersion(scope.resourceVersion, event);
    if (event.type === 'BOOKMARK') return;
    const object = this.#options.decode ? this.#options.decode(event.object) : (event.object as T);
    const cached = this.#target.get(object.metadata?.namespace, object.metadata?.name ?? '');
    if (event.type === 'DELETED') {
      if (cached !== undefined)
        this.#target.apply({ type: 'delete', object, finalStateUnknown: false });
      return;
    }
    for (const change of changesFor(cached, object)) this.#target.apply(change);
  }

  /** The cached objects a scope's list covers, by key. */
  #cachedIn(scope: Scope): Map<string, T> {
    const objects =
      scope.namespace === undefined ? this.#target.list() : this.#target.list(scope.namespace);
    return new Map(objects.map((object) => [objectKey(object), object]));
  }
}
