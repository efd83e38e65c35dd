// The reconcilers' SecretStore and StatusWriter ports on the apiserver.
import type { V1Secret } from '@kubernetes/client-node';
import { isKubeApiError } from '../kube/client/api-error.ts';
import { patchStatus, serverSideApply } from '../kube/client/apply.ts';
import { CONTENT_TYPE, type KubeClient } from '../kube/client/client.ts';
import { resourcePath } from '../kube/client/resources.ts';
import { FIELD_MANAGER } from './annotations.ts';
import type { FinalizerRemover, SecretStore, StatusWriter } from './ports.ts';
import { readSecret } from './read-secret.ts';
import type { TokenCopyStore } from './token-distribution.ts';

/** The resourceVersion of no object: etcd starts at revision 1 and gives its first write 2. */
const NO_OBJECT_VERSION = '1';

const secretPath = (namespace: string, name: string): string =>
  resourcePath({ apiVersion: 'v1', plural: 'secrets', namespace, name });

function ignoreNotFound(error: unknown): void {
  if (!isKubeApiError(error, 404)) throw error;
}

export function kubeSecretStore(client: KubeClient): SecretStore {
  return {
    read: (namespace, name) => readSecret(client, namespace, name),
    apply: (secret, signal) =>
      serverSideApply(client, secret, {
        fieldManager: FIELD_MANAGER,
        force: true,
        ...(signal ? { signal } : {}),
      }),
    async create(secret, signal) {
      try {
        return await serverSideApply(
          client,
          // A resourceVersion no stored object can have (etcd's first write is revision 2) makes
          // the apply a create: an existing Secret is a 409 and stays untouched (decision 029).
          { ...secret, metadata: { ...secret.metadata, resourceVersion: NO_OBJECT_VERSION } },
          { fieldManager: FIELD_MANAGER, force: true, ...(signal ? { signal } : {}) },
        );
      } catch (error) {
        if (isKubeApiError(error, 409)) return undefined;
        throw error;
      }
    },
    async dropKeys(namespace, name, keys, signal) {
      await client.request({
        method: 'PATCH',
        path: secretPath(namespace, name),
        query: { fieldManager: FIELD_MANAGER },
        body: { data: Object.fromEntries(keys.map((key) => [key, null])) },
        contentType: CONTENT_TYPE.mergePatch,
        ...(signal ? { signal } : {}),
        operation: `patch v1 Secret ${namespace}/${name}`,
      });
    },
    async deleteExactly(secret: V1Secret) {
      const namespace = secret.metadata?.namespace ?? '';
      const name = secret.metadata?.name ?? '';
      await client
        .request({
          method: 'DELETE',
          path: secretPath(namespace, name),
          // Never a Secret replaced or changed since the cache saw it.
          body: {
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            preconditions: {
              uid: secret.metadata?.uid,
              resourceVersion: secret.metadata?.resourceVersion,
            },
          },
          operation: `delete v1 Secret ${namespace}/${name}`,
        })
        .catch(ignoreNotFound);
    },
    async dropOwnerReference(secret: V1Secret, uid: string) {
      const index = (secret.metadata?.ownerReferences ?? []).findIndex(
        (owner) => owner.uid === uid,
      );
      if (index < 0) return;
      const namespace = secret.metadata?.namespace ?? '';
      const name = secret.metadata?.name ?? '';
      await client
        .request({
          method: 'PATCH',
          path: secretPath(namespace, name),
          body: [
            { op: 'test', path: `/metadata/ownerReferences/${index}/uid`, value: uid },
            { op: 'remove', path: `/metadata/ownerReferences/${index}` },
          ],
          contentType: CONTENT_TYPE.jsonPatch,
          operation: `patch v1 Secret ${namespace}/${name}`,
        })
        .catch(ignoreNotFound);
    },
  };
}

/** Removes one finalizer by JSON patch (test, then remove at its index). */
export function kubeFinalizerRemover(client: KubeClient): FinalizerRemover {
  return {
    async removeFinalizer(resource, object, finalizer) {
      const index = (object.metadata?.finalizers ?? []).indexOf(finalizer);
      if (index < 0) return;
      const namespace = object.metadata?.namespace ?? '';
      const name = object.metadata?.name ?? '';
      const plural = resource.plural;
      await client
        .request({
          method: 'PATCH',
          path: resourcePath({ apiVersion: resource.apiVersion, plural, namespace, name }),
          query: { fieldManager: FIELD_MANAGER },
          body: [
            { op: 'test', path: `/metadata/uid`, value: object.metadata?.uid },
            { op: 'test', path: `/metadata/finalizers/${index}`, value: finalizer },
            { op: 'remove', path: `/metadata/finalizers/${index}` },
          ],
          contentType: CONTENT_TYPE.jsonPatch,
          operation: `remove finalizer from ${plural} ${namespace}/${name}`,
        })
        .catch(ignoreNotFound);
    },
  };
}

/** Status of OnePasswordItems, by merge patch with op-kube's field manager. */
export function kubeItemStatusWriter(
  client: KubeClient,
  resource: { readonly group: string; readonly version: string; readonly plural: string },
): StatusWriter {
  return {
    async patchStatus(namespace, name, status) {
      await patchStatus(client, { ...resource, namespace, name }, status, {
        fieldManager: FIELD_MANAGER,
      });
    },
  };
}

/** The token distribution's writes: create only (never replace), data set under a resourceVersion. */
export function kubeTokenCopyStore(client: KubeClient): TokenCopyStore {
  return {
    async create(secret) {
      const namespace = secret.metadata?.namespace ?? '';
      try {
        await client.request({
          method: 'POST',
          path: resourcePath({ apiVersion: 'v1', plural: 'secrets', namespace }),
          query: { fieldManager: FIELD_MANAGER },
          body: secret,
          operation: `create v1 Secret ${namespace}/${secret.metadata?.name ?? ''}`,
        });
        return true;
      } catch (error) {
        if (isKubeApiError(error, 409)) return false;
        throw error;
      }
    },
    async setData(existing, data) {
      const namespace = existing.metadata?.namespace ?? '';
      const name = existing.metadata?.name ?? '';
      await client.request({
        method: 'PATCH',
        path: secretPath(namespace, name),
        query: { fieldManager: FIELD_MANAGER },
        // The resourceVersion makes the patch conditional: a Secret replaced meanwhile is a 409.
        body: { metadata: { resourceVersion: existing.metadata?.resourceVersion }, data },
        contentType: CONTENT_TYPE.mergePatch,
        operation: `patch v1 Secret ${namespace}/${name}`,
      });
    },
    deleteExactly: (secret) => kubeSecretStore(client).deleteExactly(secret),
  };
}
