// Leader election on a coordination.k8s.io/v1 Lease, so only one replica polls Connect and writes Secrets.
//
// The protocol is client-go's (tools/leaderelection), so op-kube and 1Password's operator honour
// each other's Lease during a rolling switch from one to the other:
// - A candidate takes the Lease when it has no holder, or when the holder let it expire: its
//   renewTime + leaseDurationSeconds lies in the past by the candidate's clock, or the candidate has
//   watched the same resourceVersion for a whole leaseDurationSeconds on its own monotonic clock
//   (client-go's rule, immune to clock skew: it covers a dead holder whose clock ran ahead).
// - Every write is a PUT carrying the resourceVersion that was read, so of two candidates racing
//   for an expired Lease exactly one wins; the other gets 409 and reads again next round.
// - The leader renews every retryPeriod. It believes it leads only until renewDeadline after the
//   start of its last successful renewal; past that it aborts the leading signal even if a request
//   is still hanging. Others wait leaseDuration from renewTime, which is written after that start,
//   so with clocks within (leaseDuration − renewDeadline) of each other the two windows never
//   overlap. A leader that reads the Lease and finds another holder stops at once.
// - release() on shutdown empties holderIdentity and sets leaseDurationSeconds to 1, so a successor
//   takes over at its next retry instead of waiting out the lease.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Lease } from '@kubernetes/client-node';
import { isKubeApiError } from '../client/api-error.ts';
import type { KubeClient } from '../client/client.ts';
import { resourcePath } from '../client/resources.ts';
import { MicroTime, readTimestamp } from '../micro-time.ts';

/** The Lease name 1Password's operator elects on (controller-runtime's LeaderElectionID). */
export const ONEPASSWORD_LEADER_ELECTION_ID = 'c26807fd.onepassword.com';

export interface LeaderElectionCallbacks {
  /**
   * Called when this elector becomes leader. `signal` aborts the moment leadership is lost or given
   * up: the work must stop then. A returned promise is awaited (within renewDeadline) by release()
   * before the Lease is handed over.
   */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /**
   * Called once after each leadership period ends (lost, or ended by stop()/release()), after the
   * signal was aborted; the signal's `reason` says which.
   */
  readonly onStoppedLeading?: () => void;
  /** Called when the observed holder changes to `identity` (this elector included). */
  readonly onNewLeader?: (identity: string) => void;
}

export type LeaderElectionPhase = 'acquire' | 'renew' | 'release' | 'callback';

export interface LeaderElectorOptions {
  readonly namespace: string;
  /** Lease name; op-kube uses ONEPASSWORD_LEADER_ELECTION_ID. */
  readonly name: string;
  /** Defaults to `<hostname>_<8 random hex digits>`, unique per process. */
  readonly identity?: string;
  /** How long others wait after the last renewal before taking over; whole seconds. Default 15 s. */
  readonly leaseDurationMs?: number;
  /** How long the leader keeps leading without a successful renewal. Default 10 s. */
  readonly renewDeadlineMs?: number;
  /** Pause between attempts to acquire or renew. Default 2 s. */
  readonly retryPeriodMs?: number;
  readonly callbacks: LeaderElectionCallbacks;
  /** Failed attempts and throwing callbacks; the elector itself never throws from its loop. */
  readonly onError?: (error: unknown, phase: LeaderElectionPhase) => void;
}

const LEASE_API_VERSION = 'coordination.k8s.io/v1';
// Candidates wait retryPeriod × [1, 1 + ACQUIRE_JITTER) so that replicas started together spread out.
const ACQUIRE_JITTER = 0.2;

const monotonicNow = (): number => performance.now();

function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(4).toString('hex')}`;
}

function validate(leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number): void {
  if (!Number.isInteger(leaseDurationMs / 1000) || leaseDurationMs < 1000) {
    throw new RangeError(`leaseDurationMs must be whole seconds (≥ 1000), got ${leaseDurationMs}`);
  }
  if (!(renewDeadlineMs < leaseDurationMs)) {
    throw new RangeError('renewDeadlineMs must be shorter than leaseDurationMs');
  }
  if (!(retryPeriodMs > 0 && retryPeriodMs * (1 + ACQUIRE_JITTER) < renewDeadlineMs)) {
    throw new RangeError(
      `retryPeriodMs must be positive and ×${1 + ACQUIRE_JITTER} shorter than renewDeadlineMs`,
    );
  }
}

export class LeaderElector {
  readonly identity: string;
  readonly namespace: string;
  readonly name: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;

  readonly #client: KubeClient;
  readonly #callbacks: LeaderElectionCallbacks;
  readonly #onError: (error: unknown, phase: LeaderElectionPhase) => void;

  #loop: Promise<void> | undefined;
  readonly #stop = new AbortController();
  /** The Lease as last read or written by this elector. */
  #lease: V1Lease | undefined;
  #observedVersion: string | undefined;
  /** Monotonic time at which #observedVersion was first seen. */
  #observedAt = 0;
  #reportedLeader: string | undefined;

  #leading = false;
  /** Monotonic time until which this elector may believe it leads. */
  #leadingUntil = 0;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #work: AbortController | undefined;
  #workDone: Promise<void> | undefined;

  constructor(client: KubeClient, options: LeaderElectorOptions) {
    this.namespace = options.namespace;
    this.name = options.name;
    this.identity = options.identity ?? defaultIdentity();
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    validate(this.leaseDurationMs, this.renewDeadlineMs, this.retryPeriodMs);
    if (this.identity === '') throw new RangeError('identity must not be empty');
    this.#client = client;
    this.#callbacks = options.callbacks;
    this.#onError = options.onError ?? (() => {});
  }

  /** Starts campaigning; returns at once. An elector runs once: after stop() make a new one. */
  start(): void {
    if (this.#loop !== undefined) throw new Error('LeaderElector.start() called twice');
    this.#loop = this.#run();
  }

  /**
   * True while this elector holds the Lease and is within renewDeadline of its last successful
   * renewal; checked against the clock, so it turns false on time even if the event loop is late
   * to run the step-down.
   */
  isLeader(): boolean {
    return this.#leading && monotonicNow() < this.#leadingUntil;
  }

  /** The holder last observed on the Lease, if any. */
  leader(): string | undefined {
    return this.#reportedLeader;
  }

  /**
   * Stops campaigning and renewing and aborts the leading signal, leaving the Lease as it is: a
   * successor waits for it to expire. For shutdown use release().
   */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    this.#stepDown('stopped');
  }

  /**
   * Stops like stop(), waits (up to renewDeadline) for the leading work to settle, then hands the
   * Lease over at once if this elector still holds it. When the work does not settle in time the
   * Lease is left to expire instead, so a successor never starts beside work still running here.
   */
  async release(): Promise<void> {
    await this.stop();
    const lease = this.#lease;
    if (lease?.spec?.holderIdentity !== this.identity) return;
    if (this.#workDone !== undefined) {
      const settled = await Promise.race([
        this.#workDone.then(() => true),
        sleep(this.renewDeadlineMs, false, { ref: false }),
      ]);
      if (!settled) {
        this.#onError(
          new Error('leading work did not stop within renewDeadline; leaving the Lease to expire'),
          'release',
        );
        return;
      }
    }
    const now = new MicroTime();
    const body: V1Lease = {
      apiVersion: LEASE_API_VERSION,
      kind: 'Lease',
      metadata: lease.metadata,
      spec: {
        ...lease.spec,
        holderIdentity: undefined,
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
      },
    };
    try {
      this.#observe(await this.#replace(body, AbortSignal.timeout(this.renewDeadlineMs)));
    } catch (error) {
      // 409: someone wrote the Lease since (it was no longer ours to release).
      if (!isKubeApiError(error, 409)) this.#onError(error, 'release');
    }
  }

  async #run(): Promise<void> {
    const stopped = this.#stop.signal;
    while (!stopped.aborted) {
      const leading = this.#leading;
      const started = monotonicNow();
      const budget = leading ? this.#leadingUntil - started : this.renewDeadlineMs;
      let acquired = false;
      try {
        acquired = await this.#tryAcquireOrRenew(
          AbortSignal.any([stopped, AbortSignal.timeout(Math.max(1, Math.ceil(budget)))]),
        );
      } catch (error) {
        if (!stopped.aborted) this.#onError(error, leading ? 'renew' : 'acquire');
      }
      if (stopped.aborted) break;
      const until = started + this.renewDeadlineMs;
      // A success that arrives after its own deadline proves nothing about the present.
      if (acquired && monotonicNow() < until) {
        this.#leadingUntil = until;
        this.#armDeadline();
        if (!this.#leading) this.#becomeLeader();
      }
      const pause = this.#leading
        ? this.retryPeriodMs
        : this.retryPeriodMs * (1 + Math.random() * ACQUIRE_JITTER);
      try {
        await sleep(pause, undefined, { signal: stopped });
      } catch {
        break;
      }
    }
  }

  /** One round of client-go's tryAcquireOrRenew: true when this elector holds the Lease now. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    let lease: V1Lease;
    try {
      lease = await this.#client.request<V1Lease>({
        method: 'GET',
        path: this.#path(this.name),
        signal,
        operation: `read Lease ${this.namespace}/${this.name}`,
      });
    } catch (error) {
      if (!isKubeApiError(error, 404)) throw error;
      return this.#create(signal);
    }
    this.#observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    // Someone took the Lease (they judged it expired): stop at once rather than at our deadline.
    if (holder !== '' && holder !== this.identity) this.#stepDown(`${holder} holds the Lease`);
    if (holder !== '' && holder !== this.identity && !this.#expired(lease)) return false;

    const renewing = holder === this.identity;
    const now = new MicroTime();
    const body: V1Lease = {
      apiVersion: LEASE_API_VERSION,
      kind: 'Lease',
      metadata: lease.metadata,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: this.leaseDurationMs / 1000,
        renewTime: now,
        acquireTime: renewing && spec.acquireTime !== undefined ? spec.acquireTime : now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (renewing ? 0 : 1),
      },
    };
    try {
      this.#observe(await this.#replace(body, signal));
      return true;
    } catch (error) {
      // Someone else wrote since our read; the next round reads their write.
      if (isKubeApiError(error, 409)) return false;
      throw error;
    }
  }

  async #create(signal: AbortSignal): Promise<boolean> {
    const now = new MicroTime();
    try {
      const created = await this.#client.request<V1Lease>({
        method: 'POST',
        path: this.#path(),
        body: {
          apiVersion: LEASE_API_VERSION,
          kind: 'Lease',
          metadata: { name: this.name, namespace: this.namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: this.leaseDurationMs / 1000,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        },
        signal,
        operation: `create Lease ${this.namespace}/${this.name}`,
      });
      this.#observe(created);
      return true;
    } catch (error) {
      // Another candidate created it first.
      if (isKubeApiError(error, 409)) return false;
      throw error;
    }
  }

  #replace(body: V1Lease, signal: AbortSignal): Promise<V1Lease> {
    return this.#client.request<V1Lease>({
      method: 'PUT',
      path: this.#path(this.name),
      body,
      signal,
      operation: `update Lease ${this.namespace}/${this.name}`,
    });
  }

  #path(name?: string): string {
    return resourcePath({
      apiVersion: LEASE_API_VERSION,
      plural: 'leases',
      namespace: this.namespace,
      name,
    });
  }

  #observe(lease: V1Lease): void {
    this.#lease = lease;
    const version = lease.metadata?.resourceVersion;
    if (version !== this.#observedVersion) {
      this.#observedVersion = version;
      this.#observedAt = monotonicNow();
    }
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== '' && holder !== this.#reportedLeader) {
      this.#reportedLeader = holder;
      this.#callback(() => this.#callbacks.onNewLeader?.(holder));
    } else if (holder === '') {
      this.#reportedLeader = undefined;
    }
  }

  #expired(lease: V1Lease): boolean {
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (monotonicNow() - this.#observedAt >= durationMs) return true;
    let renewed: Date | undefined;
    try {
      renewed = readTimestamp(lease.spec?.renewTime ?? lease.spec?.acquireTime);
    } catch (error) {
      // Unreadable: only the skew-proof rule above can expire it.
      this.#onError(error, 'acquire');
      return false;
    }
    return renewed === undefined || renewed.getTime() + durationMs < Date.now();
  }

  #becomeLeader(): void {
    this.#leading = true;
    const work = new AbortController();
    this.#work = work;
    this.#workDone = undefined;
    this.#callback(() => {
      const result = this.#callbacks.onStartedLeading(work.signal);
      if (result instanceof Promise) {
        this.#workDone = result.then(
          () => {},
          (error: unknown) => {
            this.#onError(error, 'callback');
          },
        );
      }
    });
  }

  #armDeadline(): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(
      () => {
        this.#stepDown('renew deadline passed');
      },
      Math.max(0, this.#leadingUntil - monotonicNow()),
    );
  }

  /** `why` becomes the leading signal's abort reason, so the work can tell loss from shutdown. */
  #stepDown(why: string): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    if (!this.#leading) return;
    this.#leading = false;
    this.#leadingUntil = 0;
    this.#work?.abort(
      new Error(`no longer leading on Lease ${this.namespace}/${this.name}: ${why}`),
    );
    this.#work = undefined;
    this.#callback(() => this.#callbacks.onStoppedLeading?.());
  }

  #callback(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#onError(error, 'callback');
    }
  }
}
