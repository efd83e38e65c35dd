// Owns a component's long-running parts: caches first, then runnables (the leader-gated ones only while leading), then the shutdown in reverse.
//
// The shape of controller-runtime's Manager: setup code registers what runs, and the manager alone
// decides when it starts, whether it waits for leadership, what readiness means and the order of
// the shutdown. See docs/decisions/015-manager-and-builder.md.

/** An informer-like cache: started once, synced before anything that reads it runs. */
export interface Cache {
  start(): void;
  stop(): Promise<unknown>;
  waitForSync(signal?: AbortSignal): Promise<void>;
  hasSynced(): boolean;
}

/** Something that runs until stopped: a controller, a poller. */
export interface Runnable {
  start(): void;
  stop(): Promise<unknown>;
}

/** What the manager tells the leader election, and what it needs of it. */
export interface LeadershipCallbacks {
  /** Leadership won; `signal` aborts when it is lost or released. */
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading(): void;
}

export interface Election {
  start(): void;
  /** Gives the lease up (on shutdown), so a successor takes over at once. */
  release(): Promise<unknown>;
}

export type ElectionFactory = (callbacks: LeadershipCallbacks) => Election;

export interface ManagerOptions {
  /**
   * Leader-gated runnables run only while this election is won; without one they run at start.
   * As controller-runtime does, a manager that loses leadership does not wait to win it back: it
   * resolves `stopped`, and the process exits and is restarted fresh.
   */
  readonly election?: ElectionFactory;
  /** Told when leadership is won or lost, for logs. */
  readonly onLeadership?: (event: 'started' | 'lost') => void;
  /**
   * Instead of resolving `stopped` when leadership is lost, stop the leader-gated runnables and
   * start them again when the election (which campaigns on) is won again; they must be restartable
   * (the builder's controllers are). For a component whose other parts must keep serving, e.g. the
   * webhook, whose every replica serves admission requests while one keeps the TLS current.
   */
  readonly rejoinAfterLoss?: boolean;
}

export class Manager {
  readonly #options: ManagerOptions;
  readonly #caches: Cache[] = [];
  readonly #always: Runnable[] = [];
  readonly #leaderOnly: Runnable[] = [];
  readonly #readiness: (() => string | undefined)[] = [];
  readonly #closers: (() => Promise<unknown>)[] = [];
  #election: Election | undefined;
  #leading = false;
  /** The stop of the leader-gated runnables after a lost leadership, while it runs. */
  #unleading: Promise<void> | undefined;
  #started = false;
  #stopping: Promise<void> | undefined;
  #resolveStopped: () => void = () => undefined;
  /** Resolves once the manager has stopped, or lost its leadership. */
  readonly stopped = new Promise<void>((resolve) => (this.#resolveStopped = resolve));

  constructor(options: ManagerOptions = {}) {
    this.#options = options;
  }

  /** Registers a cache; all caches are started and synced before any runnable starts. */
  addCache<C extends Cache>(cache: C): C {
    this.#caches.push(cache);
    return cache;
  }

  /** Registers a runnable; `leaderOnly` ones run only while leading. Started in order of adding. */
  add(runnable: Runnable, options: { readonly leaderOnly: boolean }): void {
    (options.leaderOnly ? this.#leaderOnly : this.#always).push(runnable);
  }

  /** A readiness condition beyond synced caches: undefined when ready, else why not. */
  addReadiness(check: () => string | undefined): void {
    this.#readiness.push(check);
  }

  /** Closes a resource (a client, a server) after everything else stopped; last added, first closed. */
  addCloser(close: () => Promise<unknown>): void {
    this.#closers.push(close);
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Undefined when every cache has synced and every readiness check passes. */
  notReady(): string | undefined {
    if (!this.#caches.every((cache) => cache.hasSynced())) return 'caches not synced';
    for (const check of this.#readiness) {
      const why = check();
      if (why !== undefined) return why;
    }
    return undefined;
  }

  /** Starts the caches, waits until they synced, then the runnables (or the election). */
  async start(): Promise<void> {
    if (this.#started) throw new Error('the manager was started already');
    this.#started = true;
    for (const cache of this.#caches) cache.start();
    await Promise.all(this.#caches.map((cache) => cache.waitForSync()));
    // Stopped while the caches synced (a caller that did not wait for start): start nothing.
    if (this.#stopping) return;
    for (const runnable of this.#always) runnable.start();
    const { election } = this.#options;
    if (election === undefined) {
      this.#lead();
      return;
    }
    this.#election = election({
      onStartedLeading: (signal) => {
        this.#options.onLeadership?.('started');
        this.#lead();
        signal.addEventListener('abort', () => void this.#unlead(), { once: true });
      },
      onStoppedLeading: () => {
        if (this.#stopping) return; // our own shutdown released the lease
        this.#options.onLeadership?.('lost');
        if (!this.#options.rejoinAfterLoss) this.#resolveStopped();
      },
    });
    this.#election.start();
  }

  /** Stops everything in reverse order of starting; calling it again returns the same promise. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#unlead();
      await this.#election?.release();
      await stopAll(this.#always);
      await Promise.all(this.#caches.map((cache) => cache.stop()));
      for (const close of [...this.#closers].reverse()) await close();
      this.#resolveStopped();
    })();
    return this.#stopping;
  }

  #lead(): void {
    if (this.#stopping) return;
    this.#leading = true;
    const previous = this.#unleading;
    if (previous === undefined) {
      for (const runnable of this.#leaderOnly) runnable.start();
      return;
    }
    // Won again (rejoinAfterLoss) before the last period's runnables had stopped: after they have.
    void previous.then(() => {
      if (!this.#leading || this.#stopping) return;
      for (const runnable of this.#leaderOnly) runnable.start();
    });
  }

  async #unlead(): Promise<void> {
    if (!this.#leading) {
      await this.#unleading;
      return;
    }
    this.#leading = false;
    const stopping = stopAll(this.#leaderOnly);
    this.#unleading = stopping;
    await stopping;
    if (this.#unleading === stopping) this.#unleading = undefined;
  }
}

/** At once: each controller may wait its stop timeout, and together they must fit a grace period. */
async function stopAll(runnables: readonly Runnable[]): Promise<void> {
  await Promise.all(runnables.map((runnable) => runnable.stop()));
}
