// What makes the operator's controllers reconcile: named predicates and map functions, pure.
import type { V1Deployment, V1Secret } from '@kubernetes/client-node';
import { keyOf } from '../kube/runtime/controller.ts';
import { ITEM_PATH_ANNOTATION, ONEPASSWORD_FINALIZER, RESYNC_ANNOTATION } from './annotations.ts';
import type { OnePasswordItem } from './api.ts';

/**
 * A OnePasswordItem changed in a way its Secret depends on: spec (generation), the resync
 * annotation, the Secret type, labels or annotations (copied with --enable-annotations).
 * Status writes, the operator's own, do not count.
 */
export function itemChanged(previous: OnePasswordItem, next: OnePasswordItem): boolean {
  return (
    previous !== next &&
    (previous.metadata?.generation !== next.metadata?.generation ||
      // Deletion started: 1Password's finalizer, if carried, is taken over.
      previous.metadata?.deletionTimestamp !== next.metadata?.deletionTimestamp ||
      previous.metadata?.annotations?.[RESYNC_ANNOTATION] !==
        next.metadata?.annotations?.[RESYNC_ANNOTATION] ||
      previous.type !== next.type ||
      JSON.stringify(previous.metadata?.labels) !== JSON.stringify(next.metadata?.labels) ||
      JSON.stringify(previous.metadata?.annotations) !== JSON.stringify(next.metadata?.annotations))
  );
}

/** The Deployment carries 1Password's item-path annotation, on its metadata or its pod template. */
export function asksForSecret(deployment: V1Deployment): boolean {
  return [deployment.metadata?.annotations, deployment.spec?.template.metadata?.annotations].some(
    (annotations) => annotations?.[ITEM_PATH_ANNOTATION] !== undefined,
  );
}

/** Any container, init container or volume of its pods reads some Secret. */
export function readsSecrets(deployment: V1Deployment): boolean {
  const spec = deployment.spec?.template.spec;
  if (!spec) return false;
  return (
    [...(spec.initContainers ?? []), ...(spec.containers ?? [])].some(
      (container) =>
        container.env?.some((variable) => variable.valueFrom?.secretKeyRef !== undefined) ||
        container.envFrom?.some((source) => source.secretRef !== undefined),
    ) ||
    (spec.volumes ?? []).some(
      (volume) =>
        volume.secret !== undefined ||
        volume.projected?.sources?.some((source) => source.secret !== undefined),
    )
  );
}

/**
 * A Deployment the deployment reconciler looks at: it asks for a Secret, reads one (it may hold a
 * Deployments' Secret it reads), or carries 1Password's finalizer.
 */
export function deploymentMatters(deployment: V1Deployment): boolean {
  return (
    asksForSecret(deployment) ||
    readsSecrets(deployment) ||
    deployment.metadata?.finalizers?.includes(ONEPASSWORD_FINALIZER) === true
  );
}

/**
 * Asked for a Secret before or after the change (dropping the annotations releases it): any
 * change. Otherwise, for a Deployment that reads Secrets or carries 1Password's finalizer, a change
 * of its spec, annotations, finalizers or deletion; status writes do not count.
 */
export function deploymentChanged(previous: V1Deployment, next: V1Deployment): boolean {
  if (previous === next) return false;
  if (asksForSecret(previous) || asksForSecret(next)) return true;
  if (!deploymentMatters(previous) && !deploymentMatters(next)) return false;
  const a = previous.metadata;
  const b = next.metadata;
  return (
    a?.generation !== b?.generation ||
    a?.deletionTimestamp !== b?.deletionTimestamp ||
    JSON.stringify(a?.finalizers) !== JSON.stringify(b?.finalizers) ||
    JSON.stringify(a?.annotations) !== JSON.stringify(b?.annotations)
  );
}

/** A managed Secret edited by hand: its owners restore it. */
export function secretChanged(previous: V1Secret, next: V1Secret): boolean {
  return previous !== next;
}

/**
 * A deleted Secret frees its name: the OnePasswordItem of that name (if any) may claim it now. The
 * Deployments asking for it are mapped by the deployment reconciler, which knows their requests.
 */
export function itemOfSameName(secret: V1Secret): string[] {
  const name = secret.metadata?.name;
  return name ? [keyOf(secret.metadata?.namespace ?? '', name)] : [];
}
