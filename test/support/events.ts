// Events (events.k8s.io/v1) as the apiserver stores them, for e2e tests of what op-kube reports.
import assert from 'node:assert/strict';
import { kubectl } from './cluster.ts';

export interface StoredEvent {
  readonly type?: string;
  readonly reason?: string;
  readonly note?: string;
  readonly regarding?: { readonly kind?: string; readonly name?: string };
}

/** Every Event of `namespace` exactly as stored (kubectl, so no client-side conversion). */
export function storedEvents<T extends StoredEvent = StoredEvent>(namespace: string): T[] {
  const result = kubectl(['get', 'events.v1.events.k8s.io', '-n', namespace, '-o', 'json']);
  assert.equal(result.status, 0, result.stderr);
  return (JSON.parse(result.stdout) as { items: T[] }).items;
}

/** The Events of `namespace` with `reason` about the object of `kind` named `name`. */
export function eventsAbout(
  namespace: string,
  kind: string,
  name: string,
  reason: string,
): StoredEvent[] {
  return storedEvents(namespace).filter(
    (event) =>
      event.reason === reason && event.regarding?.kind === kind && event.regarding.name === name,
  );
}
