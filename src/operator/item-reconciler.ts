// Reconciles one OnePasswordItem (by key) into its Secret and its status, level-based.
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { findCondition, setCondition, type Condition } from '../kube/conditions.ts';
import { parseKey, type ReconcileResult, type Reconciler } from '../kube/runtime/controller.ts';
import { TerminalError } from '../kube/errors.ts';
import { formatTime } from '../kube/micro-time.ts';
import { IGNORE_SECRET_TAG, ONEPASSWORD_FINALIZER, RESYNC_ANNOTATION } from './annotations.ts';
import {
  desiredSecret,
  sameData,
  secretDiffers,
  secretSizeProblem,
  staleKeys,
  type OwnerObject,
} from './desired-secret.ts';
import { SyncBlockedError, classifyFailure } from './failure.ts';
import { parseItemPath } from './item-path.ts';
import type {
  EventSink,
  FinalizerRemover,
  GatedLookup,
  Items,
  ItemTracker,
  Lister,
  SecretStore,
  StatusWriter,
} from './ports.ts';
import { describeKeyLosses, sanitizeSecretName } from './secret-data.ts';
import { buildSecretData } from './secret-keys.ts';
import { parseGoDuration } from '../cli/go-values.ts';
import type { ItemRef, SyncedItem } from './item-source.ts';
import { claimOrRefuse } from './claim-or-refuse.ts';
import { OPI_KIND } from './secret-ownership.ts';
import { OPI_GROUP, OPI_VERSION, type OnePasswordItem, type OnePasswordItemStatus } from './api.ts';

/** Told when a Secret's data really changed, so workloads using it can be restarted. */
export type SecretChanged = (
  namespace: string,
  secretName: string,
  item: OnePasswordItem,
) => Promise<void>;

export interface ItemReconcilerOptions {
  /** Writes (and uncached reads) of Secrets. */
  readonly store: SecretStore;
  readonly status: StatusWriter;
  readonly items: Lister<OnePasswordItem>;
  /** op-kube's managed Secrets (the cache); others are read through `store`. */
  readonly secrets: Lister<V1Secret>;
  /** The namespace's items (its own token's with --token-source=namespace). */
  readonly sourceFor: (namespace: string) => Items;
  /** Which item each OnePasswordItem resolved to, for the poller and for shared items. */
  readonly users: ItemTracker;
  /** The vault access policy: every item lookup goes through it. */
  readonly vaultGate: GatedLookup;
  readonly events: EventSink;
  readonly logger: Logger;
  readonly enableAnnotations: boolean;
  readonly allowEmptyValues: boolean;
  readonly onSecretChanged: SecretChanged;
  /** After a failure that cannot heal by retrying alone (foreign Secret), look again this late. */
  readonly blockedRecheckMs: number;
  /** Removes 1Password's finalizer from items being deleted. */
  readonly finalizers: FinalizerRemover;
}

function ownerOf(item: OnePasswordItem): OwnerObject {
  const metadata = item.metadata ?? {};
  return {
    apiVersion: `${OPI_GROUP}/${OPI_VERSION}`,
    kind: 'OnePasswordItem',
    metadata: {
      name: metadata.name ?? '',
      namespace: metadata.namespace ?? '',
      uid: metadata.uid ?? '',
      ...(metadata.labels ? { labels: metadata.labels } : {}),
      ...(metadata.annotations ? { annotations: metadata.annotations } : {}),
    },
  };
}

/** The least time between two checks of the item's items (CEL keeps it 1s..24h); undefined: none. */
function refreshIntervalMs(item: OnePasswordItem): number | undefined {
  const text = item.spec?.refreshInterval;
  const ms = text === undefined ? undefined : parseGoDuration(text);
  return ms === undefined || !(ms > 0) ? undefined : Math.max(MIN_REFRESH_MS, ms);
}

/** The floor of spec.refreshInterval, as the CRD's rule. */
export const MIN_REFRESH_MS = 1000;

/** `version 3 of item db` (and, with spec.extraItems, `, version 5 of item admin`...). */
function versionsOf(synced: SyncedItem, extras: readonly SyncedItem[]): string {
  return [synced, ...extras]
    .map((one) => `version ${one.item.version} of item ${one.item.title}`)
    .join(', ');
}

export class OnePasswordItemReconciler implements Reconciler {
  readonly #options: ItemReconcilerOptions;
  /** The last `op-kube.io/resync` value seen per key: a new value re-fetches the item. */
  readonly #resyncSeen = new Map<string, string>();

  constructor(options: ItemReconcilerOptions) {
    this.#options = options;
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult> {
    const { namespace, name } = parseKey(key);
    const item = this.#options.items.get(namespace, name);
    if (!item || item.metadata?.deletionTimestamp) {
      // The garbage collector removes the Secret through its ownerReference.
      this.#options.users.delete(key);
      this.#resyncSeen.delete(key);
      if (item?.metadata?.finalizers?.includes(ONEPASSWORD_FINALIZER)) await this.#finalize(item);
      return {};
    }
    try {
      return await this.#sync(key, item, signal);
    } catch (error) {
      const failure = classifyFailure(error);
      await this.#writeStatus(
        item,
        { status: 'False', reason: failure.reason, message: failure.message },
        {},
      );
      this.#options.events.warning(item, failure.reason, failure.message);
      if (error instanceof SyncBlockedError)
        return { requeueAfterMs: this.#options.blockedRecheckMs };
      if (failure.terminal)
        throw new TerminalError(failure.reason, failure.message, { cause: error });
      throw error;
    }
  }

  /**
   * 1Password's clean-up for an item being deleted with its finalizer: its Secret goes, but only
   * when this item alone owns it (1Password deletes the name whoever owns it; op-kube never deletes
   * a Secret someone else holds). Then the finalizer goes, so the deletion completes.
   */
  async #finalize(item: OnePasswordItem): Promise<void> {
    const namespace = item.metadata?.namespace ?? '';
    const secretName = sanitizeSecretName(item.metadata?.name ?? '');
    const uid = item.metadata?.uid;
    const existing =
      this.#options.secrets.get(namespace, secretName) ??
      (await this.#options.store.read(namespace, secretName));
    const references = existing?.metadata?.ownerReferences ?? [];
    const ownedByThisItem =
      references.length > 0 &&
      references.every((reference) => reference.kind === OPI_KIND && reference.uid === uid);
    if (existing && ownedByThisItem) await this.#options.store.deleteExactly(existing);
    await this.#options.finalizers.removeFinalizer(
      { apiVersion: `${OPI_GROUP}/${OPI_VERSION}`, plural: 'onepassworditems' },
      item,
      ONEPASSWORD_FINALIZER,
    );
  }

  /**
   * `readLive`: read the Secret from the apiserver when the managed-Secret cache lacks it. Without,
   * a name the cache lacks is taken as free and the Secret is created only if it is (one request
   * instead of a read and a write per new item); when a Secret of that name exists after all — a
   * user's, one 1Password's operator left, or one of op-kube's the watch has not shown yet — nothing
   * is written and the sync runs again with it read (decision 029).
   */
  async #sync(
    key: string,
    item: OnePasswordItem,
    signal: AbortSignal,
    readLive = false,
  ): Promise<ReconcileResult> {
    const { secrets } = this.#options;
    const namespace = item.metadata?.namespace ?? '';
    const path = parseItemPath(item.spec?.itemPath ?? '');
    // Before any item read: the namespace may be allowed fewer vaults than the token reaches.
    const ref = await this.#options.vaultGate.resolve(namespace, path, () =>
      this.#options.users.delete(key),
    );
    // spec.extraItems: more items into the same Secret, each under the same vault policy.
    const extras = item.spec?.extraItems ?? [];
    const extraRefs: ItemRef[] = [];
    for (const extra of extras) {
      extraRefs.push(
        await this.#options.vaultGate.resolve(namespace, parseItemPath(extra.itemPath ?? ''), () =>
          this.#options.users.delete(key),
        ),
      );
    }
    // The Secret follows every one of its items, at least every spec.refreshInterval.
    this.#options.users.set(key, [ref, ...extraRefs], refreshIntervalMs(item));
    const source = this.#options.sourceFor(namespace);
    const resync = item.metadata?.annotations?.[RESYNC_ANNOTATION] ?? '';
    const previousResync = this.#resyncSeen.get(key);
    if (previousResync !== undefined && previousResync !== resync) {
      for (const used of [ref, ...extraRefs]) source.invalidate(used);
    }
    this.#resyncSeen.set(key, resync);
    const synced = await source.get(ref);
    const extraSynced = await Promise.all(extraRefs.map((used) => source.get(used)));
    const secretName = sanitizeSecretName(item.metadata?.name ?? '');
    const existing =
      secrets.get(namespace, secretName) ??
      (readLive ? await this.#options.store.read(namespace, secretName) : undefined);
    const assumedAbsent = existing === undefined && !readLive;
    const owner = ownerOf(item);
    const ownership = claimOrRefuse(
      existing,
      {
        kind: OPI_KIND,
        name: owner.metadata.name,
        uid: owner.metadata.uid,
        vaultId: ref.vaultId,
        itemId: ref.itemId,
      },
      { namespace, secretName, events: this.#options.events },
    );
    const type = item.type || 'Opaque';
    if (existing && (existing.type ?? 'Opaque') !== type) {
      throw new SyncBlockedError(
        'SecretTypeConflict',
        `Secret ${secretName} has type ${existing.type ?? 'Opaque'} but the OnePasswordItem asks for ${type}; delete the Secret to change its type`,
      );
    }
    const frozen =
      existing !== undefined &&
      [synced, ...extraSynced].some((one) => (one.item.tags ?? []).includes(IGNORE_SECRET_TAG));
    // spec.keys and extraItems absent: 1Password's mapping. A KeySpecError leaves the Secret as it was.
    const mapped = buildSecretData(
      [
        { ...synced, spec: item.spec ?? {}, where: 'spec' },
        ...extraSynced.map((one, index) => ({
          ...one,
          spec: extras[index] ?? {},
          where: `spec.extraItems[${index}]`,
        })),
      ],
      { allowEmptyValues: this.#options.allowEmptyValues, secretType: type },
    );
    const desired = desiredSecret({
      owner,
      secretName,
      type,
      vaultId: ref.vaultId,
      itemId: ref.itemId,
      itemVersion: synced.item.version,
      data: mapped.data,
      copyAnnotations: this.#options.enableAnnotations,
      ...(item.spec?.secretMetadata ? { secretMetadata: item.spec.secretMetadata } : {}),
    });
    // A label or annotation dropped from the spec leaves no trace secretDiffers could see: after a
    // spec edit (or a failed sync) the Secret is applied anyway, and server-side apply removes it.
    const observed = item.status?.observedGeneration;
    const reapply =
      (observed !== undefined && observed !== item.metadata?.generation) ||
      OnePasswordItemReconciler.readyOf(item)?.status === 'False';
    // The apiserver would refuse it anyway; refused here, the last good Secret stays and the
    // oversized request never reaches the connection every other object shares.
    const tooLarge = frozen ? undefined : secretSizeProblem(mapped.data, secretName);
    if (tooLarge !== undefined) throw new SyncBlockedError('SecretTooLarge', tooLarge);
    const dataChanged = !frozen && (!existing || !sameData(existing, desired));
    if (frozen && (reapply || secretDiffers(existing, { ...desired, data: existing.data ?? {} }))) {
      // As 1Password does: the data stays frozen, item-version and item-path move.
      await this.#options.store.apply({ ...desired, data: existing.data ?? {} });
    }
    if (
      !frozen &&
      (!existing || ownership === 'adoptable' || reapply || secretDiffers(existing, desired))
    ) {
      if (assumedAbsent) {
        const created = await this.#options.store.create(desired, signal);
        if (created === undefined) return this.#sync(key, item, signal, true);
      } else {
        const applied = await this.#options.store.apply(desired);
        // Keys another field manager (1Password's operator) wrote that the item no longer has.
        const stale = staleKeys(applied, desired);
        if (stale.length > 0)
          await this.#options.store.dropKeys(namespace, secretName, stale, signal);
      }
    }
    // Adopting a Secret from 1Password's operator only drops keys the item no longer has: the
    // workloads already run with the item's current data, so a migration restarts nothing.
    if (dataChanged && existing && ownership !== 'adoptable') {
      await this.#options.onSecretChanged(namespace, secretName, item);
    }
    // Data served from the cache is kept in place, but a failing poll means it may be stale.
    const pollFailure = source.pollFailure;
    if (pollFailure !== undefined) {
      throw pollFailure instanceof Error ? pollFailure : new Error('polling Connect failed');
    }
    if (dataChanged) {
      this.#options.events.normal(
        item,
        existing ? 'Updated' : 'Synced',
        `Secret ${secretName} ${existing ? 'updated to' : 'created from'} ${versionsOf(synced, extraSynced)}`,
      );
    }
    const losses = frozen ? undefined : describeKeyLosses(mapped.losses);
    const message = frozen
      ? `Secret ${secretName} is frozen by the item tag ${IGNORE_SECRET_TAG}`
      : `Secret ${secretName} holds ${versionsOf(synced, extraSynced)}` +
        (losses === undefined ? '' : `; ${losses}`);
    // Said once per change of what is lost, not at every resync.
    if (losses !== undefined && OnePasswordItemReconciler.readyOf(item)?.message !== message) {
      this.#options.events.warning(item, 'KeysDropped', `Secret ${secretName}: ${losses}`);
    }
    await this.#writeStatus(
      item,
      { status: 'True', reason: 'Synced', message },
      {
        itemVersion: synced.item.version,
        secretName,
        ...(dataChanged ? { lastSyncTime: formatTime(new Date()) } : {}),
      },
    );
    return {};
  }

  async #writeStatus(
    item: OnePasswordItem,
    ready: { status: 'True' | 'False'; reason: string; message: string },
    fields: Partial<OnePasswordItemStatus>,
  ): Promise<void> {
    const current = item.status ?? {};
    const generation = item.metadata?.generation;
    const conditions = setCondition(
      current.conditions,
      {
        type: 'Ready',
        ...ready,
        ...(generation !== undefined ? { observedGeneration: generation } : {}),
      },
      new Date(),
    );
    const next: OnePasswordItemStatus = {
      ...fields,
      conditions: [...conditions],
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    };
    const unchanged =
      conditions === current.conditions &&
      Object.entries(next).every(
        ([field, value]) =>
          field === 'conditions' || current[field as keyof OnePasswordItemStatus] === value,
      );
    if (unchanged) return;
    await this.#options.status.patchStatus(
      item.metadata?.namespace ?? '',
      item.metadata?.name ?? '',
      next as Record<string, unknown>,
    );
  }

  /** The condition the last status write left, e.g. for metrics by reason. */
  static readyOf(item: OnePasswordItem): Condition | undefined {
    return findCondition(item.status?.conditions, 'Ready');
  }
}

/** How many items stand at each Ready reason (the items-by-reason gauge); 'Unknown' before a first status. */
export function readyReasonCounts(items: readonly OnePasswordItem[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const reason = OnePasswordItemReconciler.readyOf(item)?.reason ?? 'Unknown';
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return counts;
}
