// Records Kubernetes Events (events.k8s.io/v1) about the objects op-kube manages, folding repeats into one Event's series.
//
// Why events.k8s.io/v1 rather than core/v1: it is the API client-go's current recorder and
// `kubectl events` use, it names the reporter explicitly (reportingController/reportingInstance,
// which `kubectl describe` shows as "From"), and it has a first-class `series` for repeats. Its
// rules, enforced on create: `eventTime` is required and is a MicroTime (six fractional digits),
// the deprecated core fields (count, firstTimestamp, source) must be unset, `note` is at most
// 1024 bytes, reason and action at most 128, and a series starts at count 2. Both APIs serve the
// same stored objects, so `kubectl get events` and `kubectl describe` show these Events too.
//
// Recording is fire-and-forget: an Event is a diagnostic, never a reason for a reconcile to fail,
// so normal()/warning() never throw and never make the caller wait; failures go to `onError` and
// the counters. Per (object, type, reason, action, note) at most one request is in flight; repeats
// arriving meanwhile only raise the in-memory count, which the next request writes, so a burst of
// identical failures costs two requests, not one per occurrence.
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { EventsV1Event, KubernetesObject, V1ObjectReference } from '@kubernetes/client-node';
import { isKubeApiError } from './client/api-error.ts';
import { CONTENT_TYPE, type KubeClient } from './client/client.ts';
import { resourcePath } from './client/resources.ts';
import { MicroTime } from './micro-time.ts';

export type EventType = 'Normal' | 'Warning';

/** The apiserver's limits for events.k8s.io/v1 (bytes, as Go's len counts them). */
export const EVENT_NOTE_MAX_BYTES = 1024;
export const EVENT_REASON_MAX_BYTES = 128;
export const EVENT_ACTION_MAX_BYTES = 128;
/**
 * Events spend a client-side rate budget of their own (client-go's recorder has a clientset of
 * its own): a sync that reports every item never halves the rate of the writes it reports on.
 */
const EVENTS_BUDGET = 'events';

export interface EventOptions {
  /** What op-kube did or failed to do, e.g. `Sync`; defaults to the reason. */
  readonly action?: string;
  /** A second object involved, e.g. the Secret an OnePasswordItem produced. */
  readonly related?: KubernetesObject;
}

/** What an `onError` report is about; never contains the note, which may quote user data. */
export interface EventFailure {
  readonly type: EventType;
  readonly reason: string;
  readonly regarding: string;
}

export interface EventRecorderOptions {
  /** reportingController: a qualified name such as `onepassword.com/op-kube`. */
  readonly component: string;
  /** reportingInstance: which replica reports, e.g. the pod name; at most 128 bytes. */
  readonly instance: string;
  /** Repeats within this long of the previous one join its series. Default 10 minutes. */
  readonly aggregationWindowMs?: number;
  /** Series remembered for aggregation; the least recently seen are forgotten first. */
  readonly maxTrackedSeries?: number;
  /** Per-request bound, so a hung apiserver cannot pile up pending writes. Default 10 s. */
  readonly requestTimeoutMs?: number;
  readonly onError?: (error: unknown, event: EventFailure) => void;
  /** Injectable wall clock. */
  readonly now?: () => Date;
}

export interface EventRecorderStats {
  /** Events created. */
  readonly created: number;
  /** Series updates written to existing Events. */
  readonly updated: number;
  /** Occurrences recorded (each normal()/warning() call that was not skipped). */
  readonly recorded: number;
  /** Requests that failed. */
  readonly failed: number;
  /** Calls refused before any request (object without kind/name, empty reason). */
  readonly skipped: number;
}

const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Kubernetes' qualified name (`prefix/name`, as label keys), which reportingController must be. */
function isQualifiedName(value: string): boolean {
  const slash = value.indexOf('/');
  const prefix = slash === -1 ? undefined : value.slice(0, slash);
  const name = slash === -1 ? value : value.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

/** Cuts `text` to at most `maxBytes` of UTF-8, never inside a character, marking the cut with "...". */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const marker = '...';
  const budget = maxBytes - marker.length;
  let kept = '';
  let used = 0;
  for (const character of text) {
    const size = Buffer.byteLength(character);
    if (used + size > budget) break;
    kept += character;
    used += size;
  }
  return kept + marker;
}

// Event names are DNS subdomains; most object names already are, a few kinds allow more.
function eventNameBase(objectName: string): string {
  const base = objectName
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .slice(0, 230)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return base === '' ? 'event' : base;
}

function referenceTo(object: KubernetesObject): V1ObjectReference | undefined {
  const { apiVersion, kind, metadata } = object;
  if (!apiVersion || !kind || !metadata?.name) return undefined;
  return {
    apiVersion,
    kind,
    name: metadata.name,
    ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
    ...(metadata.uid ? { uid: metadata.uid } : {}),
    ...(metadata.resourceVersion ? { resourceVersion: metadata.resourceVersion } : {}),
  };
}

function describeReference(reference: V1ObjectReference): string {
  const name = reference.namespace ? `${reference.namespace}/${reference.name}` : reference.name;
  return `${reference.kind ?? ''} ${name ?? ''}`;
}

interface Series {
  readonly namespace: string;
  /** The Event as first created; name and eventTime change only if it has to be recreated. */
  event: EventsV1Event & { metadata: { name: string } };
  count: number;
  lastObserved: Date;
  created: boolean;
  writtenCount: number;
  writing: Promise<void> | undefined;
  readonly failure: EventFailure;
}

export class EventRecorder {
  readonly component: string;
  readonly instance: string;
  readonly #client: KubeClient;
  readonly #windowMs: number;
  readonly #maxSeries: number;
  readonly #timeoutMs: number;
  readonly #onError: (error: unknown, event: EventFailure) => void;
  readonly #now: () => Date;
  readonly #series = new Map<string, Series>();
  readonly #pending = new Set<Promise<void>>();
  #stats = { created: 0, updated: 0, recorded: 0, failed: 0, skipped: 0 };

  constructor(client: KubeClient, options: EventRecorderOptions) {
    if (!isQualifiedName(options.component)) {
      throw new RangeError(
        `component must be a qualified name such as onepassword.com/op-kube, got ${JSON.stringify(options.component)}`,
      );
    }
    if (options.instance === '' || Buffer.byteLength(options.instance) > 128) {
      throw new RangeError('instance must have 1–128 bytes');
    }
    this.component = options.component;
    this.instance = options.instance;
    this.#client = client;
    this.#windowMs = options.aggregationWindowMs ?? 10 * 60_000;
    this.#maxSeries = options.maxTrackedSeries ?? 4096;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? (() => new Date());
  }

  normal(object: KubernetesObject, reason: string, message: string, options?: EventOptions): void {
    this.record('Normal', object, reason, message, options);
  }

  warning(object: KubernetesObject, reason: string, message: string, options?: EventOptions): void {
    this.record('Warning', object, reason, message, options);
  }

  /** Records one occurrence; returns at once and never throws. */
  record(
    type: EventType,
    object: KubernetesObject,
    reason: string,
    message: string,
    options: EventOptions = {},
  ): void {
    try {
      this.#record(type, object, reason, message, options);
    } catch (error) {
      this.#stats.skipped += 1;
      this.#report(error, { type, reason, regarding: object.metadata?.name ?? '' });
    }
  }

  /** Resolves once every write started so far (and any it chained) has finished. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  stats(): EventRecorderStats {
    return { ...this.#stats };
  }

  #record(
    type: EventType,
    object: KubernetesObject,
    reasonText: string,
    message: string,
    options: EventOptions,
  ): void {
    const regarding = referenceTo(object);
    if (regarding === undefined) {
      throw new TypeError('an Event needs an object with apiVersion, kind and metadata.name');
    }
    if (reasonText === '') throw new TypeError('an Event needs a reason');
    const reason = truncateUtf8(reasonText, EVENT_REASON_MAX_BYTES);
    const action = truncateUtf8(options.action ?? reasonText, EVENT_ACTION_MAX_BYTES);
    const note = truncateUtf8(message, EVENT_NOTE_MAX_BYTES);
    const related = options.related === undefined ? undefined : referenceTo(options.related);
    const key = JSON.stringify([
      regarding.apiVersion,
      regarding.kind,
      regarding.namespace,
      regarding.name,
      regarding.uid,
      related && [related.apiVersion, related.kind, related.namespace, related.name],
      type,
      reason,
      action,
      note,
    ]);
    const now = this.#now();
    this.#stats.recorded += 1;

    const existing = this.#series.get(key);
    if (
      existing !== undefined &&
      now.getTime() - existing.lastObserved.getTime() <= this.#windowMs
    ) {
      existing.count += 1;
      existing.lastObserved = now;
      // Re-inserting keeps the Map in least-recently-seen order for eviction.
      this.#series.delete(key);
      this.#series.set(key, existing);
      this.#write(existing);
      return;
    }

    // Cluster-scoped objects' Events live in `default`, as client-go puts them.
    const namespace = regarding.namespace ?? 'default';
    const series: Series = {
      namespace,
      event: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: this.#eventName(regarding.name ?? ''), namespace },
        eventTime: new MicroTime(now),
        type,
        reason,
        action,
        note,
        regarding,
        ...(related === undefined ? {} : { related }),
        reportingController: this.component,
        reportingInstance: this.instance,
      },
      count: 1,
      lastObserved: now,
      created: false,
      writtenCount: 0,
      writing: undefined,
      failure: { type, reason, regarding: describeReference(regarding) },
    };
    this.#series.delete(key);
    this.#series.set(key, series);
    while (this.#series.size > this.#maxSeries) {
      const oldest = this.#series.keys().next();
      if (oldest.done) break;
      this.#series.delete(oldest.value);
    }
    this.#write(series);
  }

  #eventName(objectName: string): string {
    return `${eventNameBase(objectName)}.${Date.now().toString(16)}${randomBytes(4).toString('hex')}`;
  }

  #write(series: Series): void {
    if (series.writing !== undefined) return;
    const writing = this.#drain(series).finally(() => {
      series.writing = undefined;
      this.#pending.delete(writing);
    });
    series.writing = writing;
    this.#pending.add(writing);
  }

  #path(namespace: string, name?: string): string {
    return resourcePath({ apiVersion: 'events.k8s.io/v1', plural: 'events', namespace, name });
  }

  /** Writes until the stored Event carries the latest count, or a request fails. */
  async #drain(series: Series): Promise<void> {
    while (!series.created || series.writtenCount < series.count) {
      const count = series.count;
      const { name } = series.event.metadata;
      try {
        const lastObservedTime = new MicroTime(series.lastObserved);
        const seriesField = count > 1 ? { count, lastObservedTime } : undefined;
        if (!series.created) {
          await this.#client.request({
            method: 'POST',
            path: this.#path(series.namespace),
            body: { ...series.event, series: seriesField },
            timeoutMs: this.#timeoutMs,
            budget: EVENTS_BUDGET,
            operation: `create Event ${series.namespace}/${name}`,
          });
          series.created = true;
          this.#stats.created += 1;
        } else {
          await this.#client.request({
            method: 'PATCH',
            path: this.#path(series.namespace, name),
            body: { series: seriesField },
            contentType: CONTENT_TYPE.mergePatch,
            timeoutMs: this.#timeoutMs,
            budget: EVENTS_BUDGET,
            operation: `update Event ${series.namespace}/${name}`,
          });
          this.#stats.updated += 1;
        }
        series.writtenCount = count;
      } catch (error) {
        if (series.created && isKubeApiError(error, 404)) {
          // The Event expired (the apiserver's event TTL) or was deleted: start a new one.
          series.created = false;
          series.count = 1;
          series.writtenCount = 0;
          series.event = {
            ...series.event,
            metadata: {
              name: this.#eventName(series.event.regarding?.name ?? ''),
              namespace: series.namespace,
            },
            eventTime: new MicroTime(series.lastObserved),
          };
          continue;
        }
        this.#stats.failed += 1;
        this.#report(error, series.failure);
        return;
      }
    }
  }

  #report(error: unknown, event: EventFailure): void {
    try {
      this.#onError(error, event);
    } catch {
      // A failing error hook must not turn event recording into a caller's failure.
    }
  }
}
