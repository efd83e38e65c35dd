// Reconciles Deployments annotated with 1Password's item-path and item-name into shared Secrets.
//
// Several Deployments may ask for the same Secret: each is one of its ownerReferences (none is the
// controller), so the garbage collector removes the Secret only with the last of them, and a
// Deployment's deletion is never blocked. Dropping the annotations drops that owner; the Secret goes
// when no Deployment asks for it any more.
import type { V1Deployment, V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { parseKey, type ReconcileResult, type Reconciler } from '../kube/runtime/controller.ts';
import { TerminalError } from '../kube/errors.ts';
import {
  ITEM_NAME_ANNOTATION,
  ITEM_PATH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
} from './annotations.ts';
import { desiredSecret, sameData, secretDiffers, secretSizeProblem } from './desired-secret.ts';
import { classifyFailure, SyncBlockedError } from './failure.ts';
import { parseItemPath } from './item-path.ts';
import type {
  EventSink,
  GatedLookup,
  IndexedLister,
  Items,
  ItemTracker,
  Lister,
  SecretStore,
} from './ports.ts';
import { describeKeyLosses, mapItemToSecretData, sanitizeSecretName } from './secret-data.ts';
import { claimOrRefuse } from './claim-or-refuse.ts';
import { deletableWhenReleased, DEPLOYMENT_KIND } from './secret-ownership.ts';
import { InvalidAnnotationError } from './workload-refs.ts';

export interface SecretRequest {
  readonly itemPath: string;
  readonly secretName: string;
}

/**
 * The Secret a Deployment asks for: the annotations on its metadata, else on its pod template (as
 * 1Password reads them). Undefined when it asks for none.
 * @throws InvalidAnnotationError when item-path is set without item-name
 */
export function secretRequestOf(deployment: V1Deployment): SecretRequest | undefined {
  const sources = [
    deployment.metadata?.annotations,
    deployment.spec?.template.metadata?.annotations,
  ];
  const annotations = sources.find((source) => source?.[ITEM_PATH_ANNOTATION] !== undefined);
  const itemPath = annotations?.[ITEM_PATH_ANNOTATION];
  if (itemPath === undefined) return undefined;
  const itemName = annotations?.[ITEM_NAME_ANNOTATION];
  if (!itemName) {
    throw new InvalidAnnotationError(
      `${ITEM_PATH_ANNOTATION} is set but ${ITEM_NAME_ANNOTATION} (the Secret's name) is not`,
    );
  }
  return { itemPath, secretName: sanitizeSecretName(itemName) };
}

/** The deployments cache's index of who asks for which Secret; its values are `namespace/secretName`. */
const SECRET_REQUEST_INDEX = 'secret-request';

/** Where SECRET_REQUEST_INDEX files a Deployment: under the Secret it asks for, if it validly asks for one. */
function secretRequestValues(deployment: V1Deployment): string[] {
  try {
    const request = secretRequestOf(deployment);
    return request ? [`${deployment.metadata?.namespace ?? ''}/${request.secretName}`] : [];
  } catch {
    return [];
  }
}

function ownerOf(deployment: V1Deployment): V1OwnerReference {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    name: deployment.metadata?.name ?? '',
    uid: deployment.metadata?.uid ?? '',
    controller: false,
    blockOwnerDeletion: false,
  };
}

export interface DeploymentReconcilerOptions {
  /** Writes (and uncached reads) of Secrets. */
  readonly store: SecretStore;
  /** The reconciler adds SECRET_REQUEST_INDEX to it. */
  readonly deployments: IndexedLister<V1Deployment>;
  /** op-kube's managed Secrets (the cache); others are read through `store`. */
  readonly secrets: Lister<V1Secret>;
  readonly source: Items;
  /** Which item each Deployment resolved to, for the poller. */
  readonly users: ItemTracker;
  /** The vault access policy: every item lookup goes through it. */
  readonly vaultGate: GatedLookup;
  readonly events: EventSink;
  readonly logger: Logger;
  readonly allowEmptyValues: boolean;
  /** Restarts workloads using the Secret when its data changed. */
  readonly onSecretChanged: (namespace: string, secretName: string) => Promise<void>;
  /** After a failure that cannot heal by retrying alone (a Secret held by another), look again this late. */
  readonly blockedRecheckMs: number;
}

function asObject(deployment: V1Deployment): V1Deployment {
  return { ...deployment, apiVersion: 'apps/v1', kind: 'Deployment' };
}

export class DeploymentReconciler implements Reconciler {
  readonly #options: DeploymentReconcilerOptions;

  constructor(options: DeploymentReconcilerOptions) {
    this.#options = options;
    options.deployments.addIndex(SECRET_REQUEST_INDEX, secretRequestValues);
  }

  /** Keys of the Deployments asking for `secretName`: they get their turn when it goes. */
  keysRequesting(namespace: string, secretName: string): string[] {
    return this.#requesters(namespace, secretName).map(
      (deployment) => `${namespace}/${deployment.metadata?.name ?? ''}`,
    );
  }

  /** Deployments in `namespace` asking for `secretName`, each once. */
  #requesters(namespace: string, secretName: string): V1Deployment[] {
    return this.#options.deployments
      .byIndex(SECRET_REQUEST_INDEX, `${namespace}/${secretName}`)
      .filter((deployment) => !deployment.metadata?.deletionTimestamp);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = parseKey(key);
    const deployment = this.#options.deployments.get(namespace, name);
    if (!deployment) {
      // The garbage collector removes Secrets whose last owning Deployment is gone.
      this.#options.users.delete(key);
      return {};
    }
    let request: SecretRequest | undefined;
    try {
      request = secretRequestOf(deployment);
    } catch (error) {
      if (error instanceof InvalidAnnotationError) {
        this.#options.events.warning(asObject(deployment), error.reason, error.message);
        throw new TerminalError(error.reason, error.message, { cause: error });
      }
      throw error;
    }
    await this.#releaseOthers(deployment, request?.secretName);
    if (!request) {
      this.#options.users.delete(key);
      return {};
    }
    try {
      await this.#sync(key, namespace, deployment, request);
      return {};
    } catch (error) {
      const failure = classifyFailure(error);
      this.#options.events.warning(asObject(deployment), failure.reason, failure.message);
      // The same rule as for OnePasswordItems: look again later, the holder may have gone.
      if (error instanceof SyncBlockedError)
        return { requeueAfterMs: this.#options.blockedRecheckMs };
      if (failure.terminal)
        throw new TerminalError(failure.reason, failure.message, { cause: error });
      throw error;
    }
  }

  async #sync(
    key: string,
    namespace: string,
    deployment: V1Deployment,
    request: SecretRequest,
  ): Promise<void> {
    // Before any item read: the namespace may be allowed fewer vaults than the token reaches.
    const ref = await this.#options.vaultGate.resolve(
      namespace,
      parseItemPath(request.itemPath),
      () => this.#options.users.delete(key),
    );
    this.#options.users.set(key, ref);
    const synced = await this.#options.source.get(ref);
    const existing =
      this.#options.secrets.get(namespace, request.secretName) ??
      (await this.#options.store.read(namespace, request.secretName));
    claimOrRefuse(
      existing,
      {
        kind: DEPLOYMENT_KIND,
        name: deployment.metadata?.name ?? '',
        uid: deployment.metadata?.uid ?? '',
        vaultId: ref.vaultId,
        itemId: ref.itemId,
      },
      { namespace, secretName: request.secretName, events: this.#options.events },
    );
    const mapped = mapItemToSecretData(synced.item, synced.files, {
      allowEmptyValues: this.#options.allowEmptyValues,
    });
    const tooLarge = secretSizeProblem(mapped.data, request.secretName);
    if (tooLarge !== undefined) throw new SyncBlockedError('SecretTooLarge', tooLarge);
    const owners = this.#requesters(namespace, request.secretName).map(ownerOf);
    const base = desiredSecret({
      owner: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {
          name: deployment.metadata?.name ?? '',
          namespace,
          uid: deployment.metadata?.uid ?? '',
        },
      },
      secretName: request.secretName,
      type: existing?.type ?? 'Opaque',
      vaultId: ref.vaultId,
      itemId: ref.itemId,
      itemVersion: synced.item.version,
      data: mapped.data,
      copyAnnotations: false,
    });
    const desired: V1Secret = { ...base, metadata: { ...base.metadata, ownerReferences: owners } };
    const ownersChanged =
      JSON.stringify(
        (existing?.metadata?.ownerReferences ?? []).map((owner) => owner.uid).sort(),
      ) !== JSON.stringify(owners.map((owner) => owner.uid).sort());
    if (!existing || ownersChanged || secretDiffers(existing, base)) {
      await this.#options.store.apply(desired);
    }
    const dataChanged = !existing || !sameData(existing, desired);
    const losses = describeKeyLosses(mapped.losses);
    if (dataChanged && losses !== undefined) {
      this.#options.events.warning(
        asObject(deployment),
        'KeysDropped',
        `Secret ${request.secretName}: ${losses}`,
      );
    }
    if (existing && dataChanged) await this.#options.onSecretChanged(namespace, request.secretName);
  }

  /**
   * Drops this Deployment from Secrets it no longer asks for; deletes those nobody asks for, but only
   * when op-kube wrote them for Deployments alone, and only the very object that was looked at.
   */
  async #releaseOthers(deployment: V1Deployment, keep: string | undefined): Promise<void> {
    const namespace = deployment.metadata?.namespace ?? '';
    const uid = deployment.metadata?.uid;
    const held = this.#options.secrets
      .list(namespace)
      .filter(
        (secret) =>
          secret.metadata?.name !== keep &&
          secret.metadata?.ownerReferences?.some((owner) => owner.uid === uid),
      );
    for (const secret of held) {
      const name = secret.metadata?.name ?? '';
      const owners = this.#requesters(namespace, name)
        .filter((other) => other.metadata?.uid !== uid)
        .map(ownerOf);
      if (!deletableWhenReleased(secret)) {
        // Not a Secret Deployments alone hold: only this Deployment's reference goes.
        await this.#options.store.dropOwnerReference(secret, uid ?? '');
      } else if (owners.length === 0) {
        await this.#options.store.deleteExactly(secret);
      } else {
        // Re-apply what op-kube owns with the smaller owner list: SSA removes only entries the same
        // field manager stops listing.
        const annotations = secret.metadata?.annotations ?? {};
        await this.#options.store.apply({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name,
            namespace,
            labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
            annotations: Object.fromEntries(
              Object.entries(annotations).filter(([annotation]) =>
                annotation.startsWith('operator.1password.io/item-'),
              ),
            ),
            ownerReferences: owners,
          },
          type: secret.type ?? 'Opaque',
          data: secret.data ?? {},
        });
      }
    }
  }
}
