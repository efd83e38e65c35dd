// HTTP transport for informers: one LIST page or one WATCH stream against the apiserver, failing with typed errors.
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { errorFromStatus, KubeApiError, parseJson, toKubeApiError } from '../client/api-error.ts';
import type { KubeClient, Query } from '../client/client.ts';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The resourceVersion asked for is older than what the apiserver keeps: only a relist can recover. */
export function isResourceExpired(error: KubeApiError): boolean {
  return error.status === 410 || error.reason === 'Expired' || error.reason === 'Gone';
}

/**
 * The apiserver has not seen the resourceVersion asked for yet (a lagging watch cache, e.g. a
 * restarted apiserver behind a load balancer): client-go relists from etcd, and so do we.
 */
export function isResourceVersionTooLarge(error: KubeApiError): boolean {
  return (
    error.causes.some((cause) => cause.reason === 'ResourceVersionTooLarge') ||
    /too large resource version/i.test(error.message)
  );
}

/** One page of a LIST; the caller follows `metadata.continue`. */
export async function listPage(
  client: KubeClient,
  path: string,
  query: Query,
  signal: AbortSignal,
): Promise<KubernetesListObject<KubernetesObject>> {
  const body = await client.request<unknown>({ method: 'GET', path, query, signal });
  if (!isRecord(body) || !Array.isArray(body.items)) {
    throw new KubeApiError({ status: 200, reason: 'InvalidResponse' }, `LIST ${path}: no items`);
  }
  return body as unknown as KubernetesListObject<KubernetesObject>;
}

export type WatchEvent =
  | {
      readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
      readonly object: KubernetesObject;
    }
  /** The apiserver ends a watch it cannot continue (410 Expired, internal errors) with a Status. */
  | { readonly type: 'ERROR'; readonly error: KubeApiError };

const OBJECT_EVENTS = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);

/**
 * Parses one line of a watch stream. A line that does not parse is an error, never skipped:
 * skipping it would lose an event, while failing makes the informer resume from the last
 * resourceVersion it applied and receive the event again.
 */
export function parseWatchLine(line: string): WatchEvent {
  const event = parseJson(line);
  if (isRecord(event) && isRecord(event.object)) {
    if (event.type === 'ERROR') return { type: 'ERROR', error: errorFromStatus(event.object) };
    if (typeof event.type === 'string' && OBJECT_EVENTS.has(event.type)) {
      return {
        type: event.type as 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK',
        object: event.object,
      };
    }
  }
  throw new KubeApiError(
    { status: 200, reason: 'InvalidResponse' },
    `malformed watch event: ${line.slice(0, 200)}`,
  );
}

async function* watchEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<WatchEvent> {
  const decoder = new TextDecoder();
  let buffered = '';
  // Where the next newline search starts, so a large object arriving in many chunks is scanned once.
  let searchFrom = 0;
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline = buffered.indexOf('\n', searchFrom);
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line !== '') yield parseWatchLine(line);
      newline = buffered.indexOf('\n');
    }
    searchFrom = buffered.length;
  }
  const rest = (buffered + decoder.decode()).trim();
  if (rest !== '') yield parseWatchLine(rest);
}

/**
 * Opens a WATCH and resolves once the apiserver has answered 200; a refusal (410, 403, …) rejects
 * here. The events end when the server closes the stream; aborting `signal` closes the connection.
 */
export async function openWatch(
  client: KubeClient,
  path: string,
  query: Query,
  signal: AbortSignal,
): Promise<AsyncIterable<WatchEvent>> {
  const body = await client.stream({ path, query: { ...query, watch: true }, signal });
  return {
    [Symbol.asyncIterator]: async function* () {
      try {
        yield* watchEvents(body);
      } catch (error) {
        throw toKubeApiError(error);
      }
    },
  };
}
