// Writes to the apiserver shared by every component: server-side apply, status merge patches, and the typed error they fail with.
//
// Server-side apply (not get-modify-update) is how op-kube writes objects it manages: the
// apiserver tracks which field manager owns which field, so labels and annotations other tools
// add survive op-kube's writes, a field op-kube stops sending is removed, and two writers never
// conflict on a resourceVersion they did not care about.
import {
  ApiException,
  CustomObjectsApi,
  KubernetesObjectApi,
  Observable,
  PatchStrategy,
  type ConfigurationOptions,
  type KubeConfig,
  type KubernetesObject,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';

/** One cause from a Status's details, e.g. the field a 422 Invalid names. */
export interface KubeStatusCause {
  readonly field?: string;
  readonly reason?: string;
  readonly message?: string;
}

/**
 * What a failed apiserver call throws: the HTTP status and the Status reason (`NotFound`,
 * `Conflict`, `AlreadyExists`, `Invalid`, `Forbidden`, …) so callers branch on 404/409/422 without
 * parsing messages. Writes (`kubeCall`) keep transport failures in their own types; the informer's
 * list and watch (src/kube/watch.ts) fold them in with status 0, so its loop decides from one type.
 */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly status: number;
  /** `Status.reason`, or '' when the answer carried no Status. */
  readonly reason: string;
  /** What was attempted, e.g. `apply v1 Secret ns/name`. */
  readonly operation: string;
  readonly causes: readonly KubeStatusCause[];

  constructor(
    init: {
      /** 0 when no answer came (a watch or list that could not connect or timed out). */
      status: number;
      reason?: string;
      operation?: string;
      causes?: readonly KubeStatusCause[];
    },
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.status = init.status;
    this.reason = init.reason ?? '';
    this.operation = init.operation ?? '';
    this.causes = init.causes ?? [];
  }
}

/** True for a KubeApiError, or when `statuses` are given, one with one of those HTTP statuses. */
export function isKubeApiError(error: unknown, ...statuses: number[]): error is KubeApiError {
  return (
    error instanceof KubeApiError && (statuses.length === 0 || statuses.includes(error.status))
  );
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)
    : undefined;
}

function statusBody(body: unknown): Record<string, unknown> | undefined {
  if (typeof body === 'string') {
    try {
      return asRecord(JSON.parse(body));
    } catch {
      return undefined;
    }
  }
  return asRecord(body);
}

function stringField(record: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = record?.[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Turns client-node's ApiException into a KubeApiError naming `operation`; returns anything else
 * unchanged. The message is the apiserver's Status message, never the request body (which may hold
 * Secret data) nor client-node's dump of response headers.
 */
export function toKubeApiError(error: unknown, operation: string): unknown {
  if (!(error instanceof ApiException)) return error;
  const status = statusBody(error.body);
  const causes = asRecord(status?.details)?.causes;
  const detail = stringField(status, 'message') ?? `HTTP ${error.code}`;
  return new KubeApiError(
    {
      status: error.code,
      reason: stringField(status, 'reason') ?? '',
      operation,
      causes: Array.isArray(causes)
        ? causes.map((cause) => {
            const record = asRecord(cause);
            return {
              field: stringField(record, 'field'),
              reason: stringField(record, 'reason'),
              message: stringField(record, 'message'),
            };
          })
        : [],
    },
    `${operation}: ${detail}`,
    { cause: error },
  );
}

/** Runs one apiserver call, rethrowing its ApiException as a KubeApiError. */
export async function kubeCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toKubeApiError(error, operation);
  }
}

/**
 * Per-call options for client-node's typed APIs: a Content-Type override (their `patch*` calls
 * otherwise send JSON Patch) and an AbortSignal so no call can hang its caller's loop.
 */
export function requestOptions(options: {
  contentType?: string;
  signal?: AbortSignal;
}): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      if (options.contentType !== undefined) {
        context.setHeaderParam('Content-Type', options.contentType);
      }
      if (options.signal !== undefined) context.setSignal(options.signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

// KubernetesObjectApi caches API discovery per instance; one per KubeConfig spares a discovery
// request on every apply.
const objectApis = new WeakMap<KubeConfig, KubernetesObjectApi>();

function objectApiFor(kubeConfig: KubeConfig): KubernetesObjectApi {
  let api = objectApis.get(kubeConfig);
  if (api === undefined) {
    api = KubernetesObjectApi.makeApiClient(kubeConfig);
    objectApis.set(kubeConfig, api);
  }
  return api;
}

export interface ApplyOptions {
  /** Who owns the applied fields, e.g. `op-kube`; at most 128 characters. */
  readonly fieldManager: string;
  /** Take over fields another manager owns instead of failing with 409 Conflict. */
  readonly force?: boolean;
  /** Validate and compute the result without persisting it. */
  readonly dryRun?: boolean;
}

function describeObject(object: KubernetesObject): string {
  const name = object.metadata?.namespace
    ? `${object.metadata.namespace}/${object.metadata.name ?? ''}`
    : (object.metadata?.name ?? '');
  return `${object.apiVersion ?? ''} ${object.kind ?? ''} ${name}`;
}

/**
 * Server-side applies `object` (the complete configuration this field manager wants: fields it
 * applied before and omits now are removed) and returns the object as stored. Creates the object
 * when it does not exist. `object` must carry apiVersion, kind, metadata.name and, for namespaced
 * kinds, metadata.namespace; it is not modified.
 */
export async function serverSideApply<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  object: T,
  options: ApplyOptions,
): Promise<T> {
  const { fieldManager } = options;
  if (fieldManager === '' || fieldManager.length > 128) {
    throw new RangeError(`fieldManager must have 1–128 characters, got ${fieldManager.length}`);
  }
  if (!object.apiVersion || !object.kind || !object.metadata?.name) {
    throw new TypeError(`cannot apply an object without apiVersion, kind and metadata.name`);
  }
  // KubernetesObjectApi fills in missing defaults on the object it is given.
  const body = structuredClone(object);
  return kubeCall(`apply ${describeObject(object)}`, () =>
    objectApiFor(kubeConfig).patch(
      body,
      undefined,
      options.dryRun ? 'All' : undefined,
      fieldManager,
      options.force ?? false,
      PatchStrategy.ServerSideApply,
    ),
  );
}

/** Names a custom resource as the custom objects API addresses it. */
export interface CustomResourceRef {
  readonly group: string;
  readonly version: string;
  /** Lower-case plural, e.g. `onepassworditems`. */
  readonly plural: string;
  /** Absent for cluster-scoped resources. */
  readonly namespace?: string;
  readonly name: string;
}

export interface PatchStatusOptions {
  /** Recorded in managedFields as the writer of the status fields. */
  readonly fieldManager?: string;
  /**
   * Fail with 409 Conflict unless the object is still at this resourceVersion, for writers whose
   * status was computed from a snapshot that must still be current.
   */
  readonly resourceVersion?: string;
  readonly signal?: AbortSignal;
}

/** A custom resource as the custom objects API returns it. */
export interface CustomObject extends KubernetesObject {
  readonly status?: Record<string, unknown>;
  readonly [field: string]: unknown;
}

/**
 * Merge-patches `status` into the custom resource's `/status` subresource and returns the stored
 * object. Through the subresource only status changes, and metadata.generation does not move, so
 * writing status never re-triggers a reconcile keyed on generation. Merge-patch semantics: keys
 * not in `status` are kept, `null` deletes a key, arrays (conditions) are replaced whole.
 */
export async function patchStatus(
  kubeConfig: KubeConfig,
  ref: CustomResourceRef,
  status: Record<string, unknown>,
  options: PatchStatusOptions = {},
): Promise<CustomObject> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const body: Record<string, unknown> = { status };
  if (options.resourceVersion !== undefined) {
    body.metadata = { resourceVersion: options.resourceVersion };
  }
  const call = requestOptions({ contentType: PatchStrategy.MergePatch, signal: options.signal });
  const where = ref.namespace === undefined ? ref.name : `${ref.namespace}/${ref.name}`;
  const operation = `patch status of ${ref.plural}.${ref.group} ${where}`;
  const result: unknown = await kubeCall(operation, () =>
    ref.namespace === undefined
      ? api.patchClusterCustomObjectStatus(
          { ...ref, body, fieldManager: options.fieldManager },
          call,
        )
      : api.patchNamespacedCustomObjectStatus(
          { ...ref, namespace: ref.namespace, body, fieldManager: options.fieldManager },
          call,
        ),
  );
  return result as CustomObject;
}
