// What makes the operator's controllers reconcile: named predicates and map functions, pure.
import type { V1Deployment, V1Secret } from '@kubernetes/client-node';
import { keyOf } from '../kube/runtime/controller.ts';
import { ITEM_PATH_ANNOTATION, RESYNC_ANNOTATION } from './annotations.ts';
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

/** Asked for a Secret before or after the change (dropping the annotations releases it). */
export function deploymentRequestChanged(previous: V1Deployment, next: V1Deployment): boolean {
  return previous !== next && (asksForSecret(previous) || asksForSecret(next));
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
