// Writes to the apiserver shared by every component: server-side apply and status merge patches.
//
// Server-side apply (not get-modify-update) is how op-kube writes objects it manages: the
// apiserver tracks which field manager owns which field, so labels and annotations other tools
// add survive op-kube's writes, a field op-kube stops sending is removed, and two writers never
// conflict on a resourceVersion they did not care about.
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeApiError } from './api-error.ts';
import { CONTENT_TYPE, type KubeClient } from './client.ts';
import { resourceFor, resourcePath } from './resources.ts';

export interface ApplyOptions {
  /** Who owns the applied fields, e.g. `op-kube`; at most 128 characters. */
  readonly fieldManager: string;
  /** Take over fields another manager owns instead of failing with 409 Conflict. */
  readonly force?: boolean;
  /** Validate and compute the result without persisting it. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
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
  client: KubeClient,
  object: T,
  options: ApplyOptions,
): Promise<T> {
  const { fieldManager } = options;
  if (fieldManager === '' || fieldManager.length > 128) {
    throw new RangeError(`fieldManager must have 1–128 characters, got ${fieldManager.length}`);
  }
  const { apiVersion, kind, metadata } = object;
  if (!apiVersion || !kind || !metadata?.name) {
    throw new TypeError(`cannot apply an object without apiVersion, kind and metadata.name`);
  }
  const operation = `apply ${describeObject(object)}`;
  const resource = await resourceFor(client, apiVersion, kind);
  if (resource === undefined) {
    throw new KubeApiError(
      { status: 404, reason: 'NotFound', operation },
      `${operation}: the apiserver serves no ${kind} in ${apiVersion}`,
    );
  }
  return client.request<T>({
    method: 'PATCH',
    path: resourcePath({
      apiVersion,
      plural: resource.plural,
      namespace: resource.namespaced ? metadata.namespace : undefined,
      name: metadata.name,
    }),
    query: {
      fieldManager,
      ...(options.force ? { force: true } : {}),
      ...(options.dryRun ? { dryRun: 'All' } : {}),
    },
    body: object,
    contentType: CONTENT_TYPE.apply,
    operation,
    signal: options.signal,
  });
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
  client: KubeClient,
  ref: CustomResourceRef,
  status: Record<string, unknown>,
  options: PatchStatusOptions = {},
): Promise<CustomObject> {
  const body: Record<string, unknown> = { status };
  if (options.resourceVersion !== undefined) {
    body.metadata = { resourceVersion: options.resourceVersion };
  }
  const where = ref.namespace === undefined ? ref.name : `${ref.namespace}/${ref.name}`;
  return client.request<CustomObject>({
    method: 'PATCH',
    path: resourcePath({
      apiVersion: `${ref.group}/${ref.version}`,
      plural: ref.plural,
      namespace: ref.namespace,
      name: ref.name,
      subresource: 'status',
    }),
    query: options.fieldManager !== undefined ? { fieldManager: options.fieldManager } : {},
    body,
    contentType: CONTENT_TYPE.mergePatch,
    operation: `patch status of ${ref.plural}.${ref.group} ${where}`,
    signal: options.signal,
  });
}
