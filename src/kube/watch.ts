// HTTP transport for informers: one LIST page or one WATCH stream against the apiserver, failing with typed errors.
import { KubeApiError } from './apply.ts';
import {
  HttpMethod,
  RequestContext,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { fetch, type Response } from 'undici';

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/** The reason Kubernetes would give a bare HTTP status, for answers that carry no Status body. */
function reasonForHttpStatus(status: number): string {
  switch (status) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 409:
      return 'Conflict';
    case 410:
      return 'Expired';
    case 429:
      return 'TooManyRequests';
    case 504:
      return 'Timeout';
    default:
      return status >= 500 ? 'InternalError' : 'Unknown';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export { KubeApiError };

/** Builds the error a `Status` object describes; `httpStatus` wins over the Status's own code. */
export function errorFromStatus(status: unknown, httpStatus?: number): KubeApiError {
  const body = isRecord(status) ? status : {};
  const code =
    httpStatus ?? (typeof body.code === 'number' && Number.isInteger(body.code) ? body.code : 0);
  const reason =
    typeof body.reason === 'string' && body.reason !== '' ? body.reason : reasonForHttpStatus(code);
  const details = isRecord(body.details) ? body.details : {};
  const causes = Array.isArray(details.causes)
    ? details.causes.flatMap((cause) =>
        isRecord(cause)
          ? [
              {
                ...(typeof cause.reason === 'string' ? { reason: cause.reason } : {}),
                ...(typeof cause.field === 'string' ? { field: cause.field } : {}),
                ...(typeof cause.message === 'string' ? { message: cause.message } : {}),
              },
            ]
          : [],
      )
    : [];
  const message =
    typeof body.message === 'string' && body.message !== '' ? body.message : `HTTP ${code}`;
  return new KubeApiError({ status: code, reason, causes }, message);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Any failure (ours, client-node's `ApiException`, undici's network errors, aborts) as a KubeApiError,
 * so the informer decides what to do from `status` and `reason` alone.
 */
export function toKubeApiError(error: unknown): KubeApiError {
  if (error instanceof KubeApiError) return error;
  if (isRecord(error) && typeof error.code === 'number' && 'body' in error) {
    const body = typeof error.body === 'string' ? parseJson(error.body) : error.body;
    return errorFromStatus(body, error.code);
  }
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new KubeApiError({ status: 0, reason: 'Timeout' }, error.message, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : '';
  return new KubeApiError(
    { status: 0, reason: 'Unavailable' },
    cause ? `${message}: ${cause}` : message,
    { cause: error },
  );
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

async function send(
  config: KubeConfig,
  path: string,
  query: Query,
  signal: AbortSignal,
): Promise<Response> {
  const cluster = config.getCurrentCluster();
  if (!cluster) {
    throw new KubeApiError({ status: 0, reason: 'NoCluster' }, 'the kubeconfig names no cluster');
  }
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const context = new RequestContext(url.toString(), HttpMethod.GET);
  await config.applySecurityAuthentication(context);
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { ...context.getHeaders(), accept: 'application/json' },
      dispatcher: context.getDispatcher(),
      signal,
    });
  } catch (error) {
    throw toKubeApiError(error);
  }
  if (response.status !== 200) {
    const text = await response.text().catch(() => '');
    throw errorFromStatus(parseJson(text), response.status);
  }
  return response;
}

/** One page of a LIST; the caller follows `metadata.continue`. */
export async function listPage(
  config: KubeConfig,
  path: string,
  query: Query,
  signal: AbortSignal,
): Promise<KubernetesListObject<KubernetesObject>> {
  const response = await send(config, path, query, signal);
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    throw toKubeApiError(error);
  }
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
  config: KubeConfig,
  path: string,
  query: Query,
  signal: AbortSignal,
): Promise<AsyncIterable<WatchEvent>> {
  const response = await send(config, path, { ...query, watch: true }, signal);
  const body = response.body;
  if (!body) {
    throw new KubeApiError({ status: 200, reason: 'InvalidResponse' }, `WATCH ${path}: no body`);
  }
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
