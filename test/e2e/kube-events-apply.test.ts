// EventRecorder, serverSideApply and patchStatus against the real apiserver: aggregation, field ownership, status-only writes.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import {
  CoreV1Api,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import { KubeApiError, isKubeApiError } from '../../src/kube/client/api-error.ts';
import {
  patchStatus,
  serverSideApply,
  type CustomResourceRef,
} from '../../src/kube/client/apply.ts';
import { setCondition, findCondition, type Condition } from '../../src/kube/conditions.ts';
import { EVENT_NOTE_MAX_BYTES, EventRecorder, type EventFailure } from '../../src/kube/events.ts';
import { kubeClientFor, kubeConfigFor, kubectl, testNamespace } from '../support/cluster.ts';
import { storedEvents } from '../support/events.ts';
import { crdEstablished, onePasswordItemCrd } from '../support/crd.ts';

const config = kubeConfigFor();
const core = config.makeApiClient(CoreV1Api);
const client = kubeClientFor();
const SIX_DIGITS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const OP_KUBE = 'op-kube';

interface RawEvent {
  metadata: { name: string; namespace: string };
  type: string;
  reason: string;
  action: string;
  note: string;
  eventTime: string;
  reportingController: string;
  reportingInstance: string;
  regarding: { apiVersion: string; kind: string; name: string; namespace: string; uid: string };
  related?: { kind: string; name: string };
  series?: { count: number; lastObservedTime: string };
  deprecatedCount?: number;
}

/** op-kube's events.k8s.io/v1 Events exactly as stored. */
function rawEvents(namespace: string): RawEvent[] {
  return storedEvents<RawEvent>(namespace).filter(
    (event) => event.reportingController === 'onepassword.com/op-kube',
  );
}

async function configMap(namespace: string, name: string): Promise<V1ConfigMap> {
  const created = await core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name }, data: { purpose: 'event subject' } },
  });
  // Objects from typed reads carry no apiVersion/kind; callers add them, as a reconciler would.
  return { ...created, apiVersion: 'v1', kind: 'ConfigMap' };
}

function recorder(options: Partial<ConstructorParameters<typeof EventRecorder>[1]> = {}): {
  events: EventRecorder;
  failures: { error: unknown; event: EventFailure }[];
} {
  const failures: { error: unknown; event: EventFailure }[] = [];
  const events = new EventRecorder(client, {
    component: 'onepassword.com/op-kube',
    instance: 'op-kube-7d9f-abcde',
    onError: (error, event) => failures.push({ error, event }),
    ...options,
  });
  return { events, failures };
}

describe('EventRecorder', () => {
  it('records an Event with the right type, reason, regarding object and reporter', async (t) => {
    const namespace = await testNamespace(t, 'events-one');
    const subject = await configMap(namespace, 'database');
    const { events, failures } = recorder();
    events.normal(subject, 'Synced', 'Secret database updated from item version 7', {
      action: 'Sync',
    });
    await events.flush();
    assert.deepEqual(failures, []);

    const [event, ...others] = rawEvents(namespace);
    assert.equal(others.length, 0);
    assert.ok(event);
    assert.equal(event.type, 'Normal');
    assert.equal(event.reason, 'Synced');
    assert.equal(event.action, 'Sync');
    assert.equal(event.note, 'Secret database updated from item version 7');
    assert.equal(event.reportingInstance, 'op-kube-7d9f-abcde');
    assert.deepEqual(
      [event.regarding.kind, event.regarding.name, event.regarding.namespace, event.regarding.uid],
      ['ConfigMap', 'database', namespace, subject.metadata?.uid],
    );
    assert.match(event.eventTime, SIX_DIGITS);
    assert.match(event.metadata.name, /^database\.[0-9a-f]+$/);
    assert.equal(event.series, undefined);
    assert.deepEqual(events.stats(), {
      created: 1,
      updated: 0,
      recorded: 1,
      failed: 0,
      skipped: 0,
    });

    // What `kubectl describe` shows, through the core/v1 view of the same Event.
    const described = kubectl(['describe', 'configmap', 'database', '-n', namespace]);
    assert.match(described.stdout, /Normal\s+Synced\s+.*onepassword\.com\/op-kube/);
  });

  it('folds repeats into one Event’s series instead of creating new Events', async (t) => {
    const namespace = await testNamespace(t, 'events-repeat');
    const subject = await configMap(namespace, 'database');
    const { events, failures } = recorder();
    const message = 'item "database" not found in vault "Production"';

    events.warning(subject, 'ItemNotFound', message);
    await events.flush();
    events.warning(subject, 'ItemNotFound', message);
    await events.flush();
    let [event, ...others] = rawEvents(namespace);
    assert.equal(others.length, 0);
    assert.equal(event?.series?.count, 2);
    assert.match(event?.series?.lastObservedTime ?? '', SIX_DIGITS);

    // A burst while a write is in flight costs one more request, not one per occurrence.
    for (let i = 0; i < 5; i += 1) events.warning(subject, 'ItemNotFound', message);
    await events.flush();
    [event, ...others] = rawEvents(namespace);
    assert.equal(others.length, 0);
    assert.equal(event?.type, 'Warning');
    assert.equal(event?.series?.count, 7);
    assert.ok(events.stats().updated <= 3, `updates: ${events.stats().updated}`);

    // A different message, type or object is a different Event.
    events.warning(subject, 'ItemNotFound', 'item "database" not found in vault "Staging"');
    events.normal(subject, 'ItemNotFound', message);
    await events.flush();
    assert.equal(rawEvents(namespace).length, 3);
    assert.deepEqual(failures, []);
    assert.equal(events.stats().recorded, 9);
  });

  it('starts a new Event once the aggregation window has passed', async (t) => {
    const namespace = await testNamespace(t, 'events-window');
    const subject = await configMap(namespace, 'database');
    let now = new Date();
    const { events } = recorder({ aggregationWindowMs: 60_000, now: () => now });
    events.warning(subject, 'Unauthorized', 'Connect refused the token');
    now = new Date(now.getTime() + 30_000);
    events.warning(subject, 'Unauthorized', 'Connect refused the token');
    await events.flush();
    now = new Date(now.getTime() + 61_000);
    events.warning(subject, 'Unauthorized', 'Connect refused the token');
    await events.flush();
    const counts = rawEvents(namespace)
      .map((event) => event.series?.count ?? 1)
      .sort();
    assert.deepEqual(counts, [1, 2]);
  });

  it('truncates the note to the apiserver’s 1 KiB without splitting a character', async (t) => {
    const namespace = await testNamespace(t, 'events-long');
    const subject = await configMap(namespace, 'database');
    const { events, failures } = recorder();
    events.warning(subject, 'ConnectUnavailable', 'é'.repeat(2000), {
      related: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'database', namespace } },
    });
    await events.flush();
    assert.deepEqual(failures, []);
    const [event] = rawEvents(namespace);
    assert.ok(event);
    assert.ok(Buffer.byteLength(event.note) <= EVENT_NOTE_MAX_BYTES);
    assert.match(event.note, /^é+\.\.\.$/);
    assert.deepEqual([event.related?.kind, event.related?.name], ['Secret', 'database']);
  });

  it('never throws into the caller: failures are counted and reported', async (t) => {
    const namespace = await testNamespace(t, 'events-fail');
    const { events, failures } = recorder();
    const ghost: KubernetesObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ghost', namespace: `${namespace}-missing` },
    };
    events.warning(ghost, 'Broken', 'the namespace does not exist');
    events.normal({ metadata: { name: 'no-kind' } }, 'Synced', 'no apiVersion or kind');
    events.normal(ghost, '', 'no reason');
    await events.flush();
    assert.deepEqual(events.stats(), {
      created: 0,
      updated: 0,
      recorded: 1,
      failed: 1,
      skipped: 2,
    });
    assert.equal(failures.length, 3);
    const apiFailure = failures.find((failure) => isKubeApiError(failure.error));
    assert.equal((apiFailure?.error as KubeApiError | undefined)?.status, 404);
    assert.equal(apiFailure?.event.reason, 'Broken');

    const throwingHook = recorder({
      onError: () => {
        throw new Error('a broken hook');
      },
    }).events;
    throwingHook.warning(ghost, 'Broken', 'still fine');
    await throwingHook.flush();
    assert.equal(throwingHook.stats().failed, 1);
  });

  it('refuses a component that is not a qualified name', () => {
    assert.throws(
      () => new EventRecorder(client, { component: 'op kube!', instance: 'x' }),
      RangeError,
    );
    assert.throws(
      () => new EventRecorder(client, { component: 'op-kube', instance: '' }),
      RangeError,
    );
  });
});

function secret(namespace: string, data: Record<string, string>, labels = {}): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'database', namespace, labels },
    type: 'Opaque',
    data: Object.fromEntries(
      Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    ),
  };
}

const decode = (value: string | undefined): string =>
  Buffer.from(value ?? '', 'base64').toString('utf8');

describe('serverSideApply', () => {
  it('creates, then updates, a Secret and returns the stored object', async (t) => {
    const namespace = await testNamespace(t, 'apply-create');
    const desired = secret(namespace, { username: 'admin', password: 'one' });
    const snapshot = structuredClone(desired);
    const created = await serverSideApply(client, desired, { fieldManager: OP_KUBE });
    assert.deepEqual(desired, snapshot, 'the caller’s object is not modified');
    assert.equal(decode(created.data?.password), 'one');
    assert.ok(created.metadata?.uid);

    const updated = await serverSideApply(
      client,
      secret(namespace, { username: 'admin', password: 'two' }),
      { fieldManager: OP_KUBE },
    );
    assert.equal(updated.metadata?.uid, created.metadata?.uid);
    assert.notEqual(updated.metadata?.resourceVersion, created.metadata?.resourceVersion);
    const stored = await core.readNamespacedSecret({ name: 'database', namespace });
    assert.equal(decode(stored.data?.password), 'two');
    const managers = stored.metadata?.managedFields?.map((entry) => entry.manager);
    assert.deepEqual(managers, [OP_KUBE]);

    // A dry run answers with the result but stores nothing.
    const dry = await serverSideApply(
      client,
      secret(namespace, { username: 'admin', password: 'three' }),
      { fieldManager: OP_KUBE, dryRun: true },
    );
    assert.equal(decode(dry.data?.password), 'three');
    const after = await core.readNamespacedSecret({ name: 'database', namespace });
    assert.equal(decode(after.data?.password), 'two');
  });

  it('keeps what other managers added and removes what op-kube stopped applying', async (t) => {
    const namespace = await testNamespace(t, 'apply-owners');
    await serverSideApply(
      client,
      secret(namespace, { username: 'admin', password: 'one', legacy: 'x' }, { app: 'db' }),
      { fieldManager: OP_KUBE },
    );
    // A GitOps tool adds a label of its own.
    await serverSideApply(
      client,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'database', namespace, labels: { 'argocd.argoproj.io/instance': 'db' } },
      },
      { fieldManager: 'argocd-controller' },
    );
    const labelled = kubectl(['label', 'secret', 'database', '-n', namespace, 'team=payments']);
    assert.equal(labelled.status, 0, labelled.stderr);

    // op-kube re-applies its configuration without `legacy` and without the others' labels.
    const result = await serverSideApply(
      client,
      secret(namespace, { username: 'admin', password: 'one' }, { app: 'db' }),
      { fieldManager: OP_KUBE },
    );
    assert.deepEqual(result.metadata?.labels, {
      app: 'db',
      'argocd.argoproj.io/instance': 'db',
      team: 'payments',
    });
    assert.deepEqual(Object.keys(result.data ?? {}).sort(), ['password', 'username']);
  });

  it('fails with a typed 409 on a field another manager owns, and takes it over with force', async (t) => {
    const namespace = await testNamespace(t, 'apply-force');
    await serverSideApply(
      client,
      secret(namespace, { password: 'set-by-hand' }, { owner: 'someone' }),
      { fieldManager: 'kubectl-client-side-apply' },
    );
    const conflict = await serverSideApply(
      client,
      secret(namespace, { password: 'from-1password' }, { owner: 'op-kube' }),
      { fieldManager: OP_KUBE },
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(conflict instanceof KubeApiError, String(conflict));
    assert.equal(conflict.status, 409);
    assert.equal(conflict.reason, 'Conflict');
    assert.ok(conflict.causes.some((cause) => cause.field?.includes('owner')));
    assert.match(conflict.message, /^apply v1 Secret .*\/database: /);
    assert.doesNotMatch(conflict.message, /from-1password|ZnJvbS0xcGFzc3dvcmQ/);

    const forced = await serverSideApply(
      client,
      secret(namespace, { password: 'from-1password' }, { owner: 'op-kube' }),
      { fieldManager: OP_KUBE, force: true },
    );
    assert.equal(decode(forced.data?.password), 'from-1password');
    assert.equal(forced.metadata?.labels?.owner, 'op-kube');
    const ownsPassword = forced.metadata?.managedFields?.find((entry) =>
      JSON.stringify(entry.fieldsV1 ?? {}).includes('f:password'),
    );
    assert.equal(ownsPassword?.manager, OP_KUBE);
  });

  it('reports 422 Invalid with the offending field, and refuses objects it cannot address', async (t) => {
    const namespace = await testNamespace(t, 'apply-invalid');
    const invalid = await serverSideApply(client, secret(namespace, { 'not a key!': 'value' }), {
      fieldManager: OP_KUBE,
    }).catch((error: unknown) => error);
    assert.ok(isKubeApiError(invalid, 422), String(invalid));
    assert.equal(invalid.reason, 'Invalid');
    assert.ok(invalid.causes.some((cause) => cause.field === 'data[not a key!]'));

    await assert.rejects(
      serverSideApply(
        client,
        { apiVersion: 'v1', kind: 'Secret', metadata: {} },
        { fieldManager: OP_KUBE },
      ),
      TypeError,
    );
    await assert.rejects(
      serverSideApply(client, secret(namespace, {}), { fieldManager: '' }),
      RangeError,
    );
    // A kind outside op-kube's table is looked up in the group version's discovery document.
    const unknown = await serverSideApply(
      client,
      { apiVersion: 'v1', kind: 'NoSuchKind', metadata: { name: 'x', namespace } },
      { fieldManager: OP_KUBE },
    ).catch((error: unknown) => error);
    assert.ok(isKubeApiError(unknown, 404), String(unknown));
    assert.match(unknown.message, /serves no NoSuchKind in v1/);
    const account = await serverSideApply<KubernetesObject>(
      client,
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'discovered', namespace } },
      { fieldManager: OP_KUBE },
    );
    assert.equal(typeof account.metadata?.uid, 'string');
  });
});

async function applyOnePasswordItemCrd(): Promise<void> {
  const manifest = await onePasswordItemCrd();
  // Server-side apply is idempotent, so test files that run side by side can all apply it.
  await serverSideApply(client, manifest, { fieldManager: 'op-kube-e2e', force: true });
  await crdEstablished(config, manifest);
}

interface OnePasswordItem extends KubernetesObject {
  spec?: { itemPath?: string };
  status?: { conditions?: Condition[]; observedGeneration?: number; itemVersion?: number };
}

/** The OnePasswordItem `database` in `namespace`, as patchStatus addresses it. */
function databaseRef(namespace: string): CustomResourceRef {
  return {
    group: 'onepassword.com',
    version: 'v1',
    plural: 'onepassworditems',
    namespace,
    name: 'database',
  };
}

/** Applies the OnePasswordItem `database` into `namespace` as op-kube. */
function applyDatabaseItem(namespace: string): Promise<OnePasswordItem> {
  return serverSideApply<OnePasswordItem>(
    client,
    {
      apiVersion: 'onepassword.com/v1',
      kind: 'OnePasswordItem',
      metadata: { name: 'database', namespace },
      spec: { itemPath: 'vaults/Production/items/database' },
    },
    { fieldManager: OP_KUBE },
  );
}

describe('patchStatus', () => {
  it('writes only status through the subresource and moves no generation', async (t) => {
    await applyOnePasswordItemCrd();
    const namespace = await testNamespace(t, 'apply-status');
    const item = await applyDatabaseItem(namespace);
    const generation = item.metadata?.generation;
    assert.equal(generation, 1);
    const ref = databaseRef(namespace);

    const conditions = setCondition(
      undefined,
      {
        type: 'Ready',
        status: 'True',
        reason: 'Synced',
        message: 'Secret is up to date',
        observedGeneration: 1,
      },
      new Date(),
    );
    const patched = await patchStatus(
      client,
      ref,
      { conditions, observedGeneration: 1, itemVersion: 7 },
      { fieldManager: OP_KUBE },
    );
    assert.equal(patched.metadata?.generation, generation);
    assert.deepEqual(patched.status?.conditions, conditions);

    // Merge patch: keys not sent are kept, the conditions array is replaced whole.
    const next = setCondition(
      conditions,
      {
        type: 'Ready',
        status: 'False',
        reason: 'ItemNotFound',
        message: 'no such item',
        observedGeneration: 1,
      },
      new Date(),
    );
    const again = (await patchStatus(client, ref, { conditions: next })) as OnePasswordItem;
    assert.equal(again.status?.itemVersion, 7);
    assert.equal(findCondition(again.status?.conditions, 'Ready')?.reason, 'ItemNotFound');
    assert.equal(again.status?.conditions?.length, 1);
    assert.equal(again.metadata?.generation, generation);
    assert.equal(again.spec?.itemPath, 'vaults/Production/items/database');

    // The status subresource ignores anything outside status: spec and generation stay put.
    const printed = kubectl(['get', 'opi', 'database', '-n', namespace, '-o', 'json']);
    const stored = JSON.parse(printed.stdout) as OnePasswordItem;
    assert.equal(stored.metadata?.generation, 1);
    assert.equal(stored.status?.observedGeneration, 1);
  });

  it('fails with typed 404, 409 (stale resourceVersion) and 422 (schema) errors', async (t) => {
    await applyOnePasswordItemCrd();
    const namespace = await testNamespace(t, 'apply-status-errors');
    const ref = databaseRef(namespace);
    const missing = await patchStatus(client, ref, { itemVersion: 1 }).catch((e: unknown) => e);
    assert.ok(isKubeApiError(missing, 404), String(missing));
    assert.equal(missing.reason, 'NotFound');

    const item = await applyDatabaseItem(namespace);
    const version = item.metadata?.resourceVersion ?? '';
    await patchStatus(client, ref, { itemVersion: 1 }, { resourceVersion: version });
    const stale = await patchStatus(
      client,
      ref,
      { itemVersion: 2 },
      { resourceVersion: version },
    ).catch((e: unknown) => e);
    assert.ok(isKubeApiError(stale, 409), String(stale));

    const invalid = await patchStatus(client, ref, {
      conditions: [{ type: 'Ready', status: 'Maybe' }],
    }).catch((e: unknown) => e);
    assert.ok(isKubeApiError(invalid, 422), String(invalid));
    assert.ok(invalid.causes.some((cause) => cause.field?.includes('status.conditions')));
  });
});
