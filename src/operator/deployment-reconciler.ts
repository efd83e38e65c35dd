// Reconciles Deployments annotated with 1Password's item-path and item-name into shared Secrets.
//
// Several Deployments may ask for the same Secret: each is one of its ownerReferences (none is the
// controller), and so is every other Deployment that reads it (env secretKeyRef, envFrom, a volume):
// the garbage collector removes the Secret only with the last of them, as 1Password documents ("only
// if ... no other deployment is using the secret"), and a Deployment's deletion is never blocked (op-kube
// adds no finalizer). Dropping the annotations drops that owner; the Secret goes when no Deployment
// asks for it or reads it any more. 1Password's finalizer, left on Deployments after a switch, is
// taken over: on deletion its clean-up runs, then it is removed.
import type { V1Deployment, V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { parseKey, type ReconcileResult, type Reconciler } from '../kube/runtime/controller.ts';
import { TerminalError } from '../kube/errors.ts';
import {
  IGNORE_SECRET_TAG,
  ITEM_NAME_ANNOTATION,
  ITEM_PATH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  ONEPASSWORD_FINALIZER,
} from './annotations.ts';
import { desiredSecret, sameData, secretDiffers, secretSizeProblem } from './desired-secret.ts';
import { classifyFailure, SyncBlockedError } from './failure.ts';
import { parseItemPath } from './item-path.ts';
import type {
  EventSink,
  FinalizerRemover,
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
import { podSpecUsesSecret } from './workload-refs.ts';

export interface SecretRequest {
  readonly itemPath: string;
  readonly secretName: string;
}

/**
 * The Secret a Deployment asks for: the annotations on its metadata, else on its pod template (as
 * 1Password reads them). Undefined when it asks for none — item-path without item-name included,
 * which 1Password ignores too.
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
  if (!itemName) return undefined;
  return { itemPath, secretName: sanitizeSecretName(itemName) };
}

/** The deployments cache's index of who asks for which Secret; its values are `namespace/secretName`. */
const SECRET_REQUEST_INDEX = 'secret-request';

/** Where SECRET_REQUEST_INDEX files a Deployment: under the Secret it asks for, if it validly asks for one. */
function secretRequestValues(deployment: V1Deployment): string[] {
  const request = secretRequestOf(deployment);
  return request ? [`${deployment.metadata?.namespace ?? ''}/${request.secretName}`] : [];
}

/** A Secret made for Deployments (1Password's or op-kube's): only non-controller Deployment owners. */
function heldByDeployments(secret: V1Secret): boolean {
  const references = secret.metadata?.ownerReferences ?? [];
  return (
    references.length > 0 &&
    references.every((reference) => reference.kind === DEPLOYMENT_KIND && !reference.controller) &&
    secret.metadata?.annotations?.[ITEM_PATH_ANNOTATION] !== undefined
  );
}

function uidsOf(deployments: readonly V1Deployment[]): string {
  return JSON.stringify(deployments.map((deployment) => deployment.metadata?.uid ?? '').sort());
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
  /** The namespace's items (its own token's with --token-source=namespace). */
  readonly sourceFor: (namespace: string) => Items;
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
  /** Removes 1Password's finalizer from Deployments being deleted. */
  readonly finalizers: FinalizerRemover;
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

  /** Deployments in `namespace` (not being deleted) that ask for `secretName` or read it: its owners. */
  #users(namespace: string, secretName: string): V1Deployment[] {
    const requesters = this.#requesters(namespace, secretName);
    const asked = new Set(requesters.map((deployment) => deployment.metadata?.uid));
    const readers = this.#options.deployments
      .list(namespace)
      .filter(
        (deployment) =>
          !deployment.metadata?.deletionTimestamp &&
          !asked.has(deployment.metadata?.uid) &&
          podSpecUsesSecret(deployment.spec?.template.spec, secretName),
      );
    return [...requesters, ...readers];
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = parseKey(key);
    const deployment = this.#options.deployments.get(namespace, name);
    if (!deployment) {
      // The garbage collector removes Secrets whose last owning Deployment is gone.
      this.#options.users.delete(key);
      return {};
    }
    if (deployment.metadata?.deletionTimestamp) {
      // Nothing is written for a Deployment on its way out: re-applying its Secret now would drop
      // its own ownerReference (a foreground deletion would then leave the Secret behind).
      this.#options.users.delete(key);
      await this.#finalize(deployment);
      return {};
    }
    const request = secretRequestOf(deployment);
    await this.#releaseOthers(deployment, request?.secretName);
    await this.#joinReadSecrets(deployment, request?.secretName);
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
    const synced = await this.#options.sourceFor(namespace).get(ref);
    const existing =
      this.#options.secrets.get(namespace, request.secretName) ??
      (await this.#options.store.read(namespace, request.secretName));
    // Deployments that only read the Secret hold it for the garbage collector's sake; they are not
    // claimants (the sole requester may still switch its item).
    const readersOnly = new Set(
      this.#users(namespace, request.secretName)
        .filter((user) => !secretRequestOf(user))
        .map((user) => user.metadata?.uid),
    );
    const claimed = existing && {
      ...existing,
      metadata: {
        ...existing.metadata,
        ownerReferences: (existing.metadata?.ownerReferences ?? []).filter(
          (owner) => !readersOnly.has(owner.uid),
        ),
      },
    };
    claimOrRefuse(
      claimed,
      {
        kind: DEPLOYMENT_KIND,
        name: deployment.metadata?.name ?? '',
        uid: deployment.metadata?.uid ?? '',
        vaultId: ref.vaultId,
        itemId: ref.itemId,
      },
      { namespace, secretName: request.secretName, events: this.#options.events },
    );
    // An existing Secret whose item carries 1Password's ignore-secret tag keeps its data (no
    // restart either); item-version and item-path still move, as 1Password's operator does.
    const frozen = existing !== undefined && (synced.item.tags ?? []).includes(IGNORE_SECRET_TAG);
    const mapped = mapItemToSecretData(synced.item, synced.files, {
      allowEmptyValues: this.#options.allowEmptyValues,
    });
    const tooLarge = frozen ? undefined : secretSizeProblem(mapped.data, request.secretName);
    if (tooLarge !== undefined) throw new SyncBlockedError('SecretTooLarge', tooLarge);
    const owners = this.#users(namespace, request.secretName).map(ownerOf);
    const computed = desiredSecret({
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
    const base = frozen ? { ...computed, data: existing.data ?? {} } : computed;
    const desired: V1Secret = { ...base, metadata: { ...base.metadata, ownerReferences: owners } };
    const ownersChanged =
      JSON.stringify(
        (existing?.metadata?.ownerReferences ?? []).map((owner) => owner.uid).sort(),
      ) !== JSON.stringify(owners.map((owner) => owner.uid).sort());
    if (!existing || ownersChanged || secretDiffers(existing, base)) {
      await this.#options.store.apply(desired);
    }
    const dataChanged = !existing || !sameData(existing, desired);
    const losses = frozen ? undefined : describeKeyLosses(mapped.losses);
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
    const spec = deployment.spec?.template.spec;
    const held = this.#options.secrets
      .list(namespace)
      .filter(
        (secret) =>
          secret.metadata?.name !== keep &&
          !podSpecUsesSecret(spec, secret.metadata?.name ?? '') &&
          secret.metadata?.ownerReferences?.some((owner) => owner.uid === uid),
      );
    for (const secret of held) {
      const name = secret.metadata?.name ?? '';
      const owners = this.#users(namespace, name).filter((other) => other.metadata?.uid !== uid);
      if (!deletableWhenReleased(secret)) {
        // Not a Secret Deployments alone hold: only this Deployment's reference goes.
        await this.#options.store.dropOwnerReference(secret, uid ?? '');
      } else if (owners.length === 0) {
        await this.#options.store.deleteExactly(secret);
      } else {
        await this.#applyOwners(secret, owners);
      }
    }
  }

  /**
   * Joins the owners of each Secret made for Deployments that this one reads but does not ask for,
   * so the garbage collector keeps it while it is read.
   */
  async #joinReadSecrets(deployment: V1Deployment, requested: string | undefined): Promise<void> {
    const namespace = deployment.metadata?.namespace ?? '';
    const uid = deployment.metadata?.uid;
    const spec = deployment.spec?.template.spec;
    const read = this.#options.secrets
      .list(namespace)
      .filter(
        (secret) =>
          secret.metadata?.name !== requested &&
          deletableWhenReleased(secret) &&
          heldByDeployments(secret) &&
          !secret.metadata?.ownerReferences?.some((owner) => owner.uid === uid) &&
          podSpecUsesSecret(spec, secret.metadata?.name ?? ''),
      );
    for (const secret of read) {
      await this.#applyOwners(secret, this.#users(namespace, secret.metadata?.name ?? ''));
    }
  }

  /**
   * Re-applies what op-kube owns of a Deployments' Secret with another owner list: SSA removes only
   * entries the same field manager stops listing; the data is the Secret's own.
   */
  async #applyOwners(secret: V1Secret, owners: readonly V1Deployment[]): Promise<void> {
    const annotations = secret.metadata?.annotations ?? {};
    await this.#options.store.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: secret.metadata?.name ?? '',
        namespace: secret.metadata?.namespace ?? '',
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
        annotations: Object.fromEntries(
          Object.entries(annotations).filter(([annotation]) =>
            annotation.startsWith('operator.1password.io/item-'),
          ),
        ),
        ownerReferences: owners.map(ownerOf),
      },
      type: secret.type ?? 'Opaque',
      data: secret.data ?? {},
    });
  }

  /**
   * A Deployment being deleted. The Secret it asked for stays while another Deployment asks for it
   * or reads it (those become its owners, so the garbage collector keeps it and removes it with the
   * last of them). With 1Password's finalizer, 1Password's clean-up runs: the Secret nobody else
   * uses is deleted now — only a Secret made for Deployments that this one holds, never one someone
   * else owns — then the finalizer is removed. Without it the garbage collector does the same.
   */
  async #finalize(deployment: V1Deployment): Promise<void> {
    const namespace = deployment.metadata?.namespace ?? '';
    const uid = deployment.metadata?.uid;
    const finalizer = deployment.metadata?.finalizers?.includes(ONEPASSWORD_FINALIZER) === true;
    const request = secretRequestOf(deployment);
    const secret =
      request &&
      (this.#options.secrets.get(namespace, request.secretName) ??
        (await this.#options.store.read(namespace, request.secretName)));
    const references = secret?.metadata?.ownerReferences ?? [];
    if (secret && heldByDeployments(secret) && references.some((owner) => owner.uid === uid)) {
      const others = this.#users(namespace, request?.secretName ?? '').filter(
        (other) => other.metadata?.uid !== uid,
      );
      const current = references.filter((owner) => owner.uid !== uid);
      if (
        others.length > 0 &&
        uidsOf(others) !== JSON.stringify(current.map((o) => o.uid).sort())
      ) {
        await this.#applyOwners(secret, others);
      } else if (others.length === 0 && finalizer) {
        await this.#options.store.deleteExactly(secret);
      }
    }
    if (finalizer) {
      await this.#options.finalizers.removeFinalizer(
        { apiVersion: 'apps/v1', plural: 'deployments' },
        deployment,
        ONEPASSWORD_FINALIZER,
      );
    }
  }
}
