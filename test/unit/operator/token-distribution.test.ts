// The token distribution on in-memory ports: a selected namespace gets a copy of the source token
// (kept equal to it), one that stops matching loses it, and a Secret op-kube did not create is
// never written or deleted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Namespace, V1Secret } from '@kubernetes/client-node';
import pino from 'pino';
import {
  TOKEN_COPY_LABEL,
  TOKEN_COPY_SOURCE_ANNOTATION,
  TokenDistributionReconciler,
  copyNamespaces,
  isTokenCopy,
  type TokenCopyStore,
} from '../../../src/operator/token-distribution.ts';
import { MemoryLister } from '../../support/operator-fakes.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Copies kept in a MemoryLister as the apiserver would: create refuses a taken name. */
class MemoryCopies extends MemoryLister<V1Secret> implements TokenCopyStore {
  readonly writes: string[] = [];
  #version = 0;
  create(secret: V1Secret): Promise<boolean> {
    const { namespace, name } = secret.metadata ?? {};
    if (this.get(namespace, name ?? '')) {
      this.writes.push(`create refused ${namespace}`);
      return Promise.resolve(false);
    }
    this.writes.push(`create ${namespace}`);
    this.#version += 1;
    this.put({
      ...secret,
      metadata: {
        ...secret.metadata,
        uid: `u${this.#version}`,
        resourceVersion: String(this.#version),
      },
    });
    return Promise.resolve(true);
  }
  setData(existing: V1Secret, data: Record<string, string | null>): Promise<void> {
    const { namespace, name } = existing.metadata ?? {};
    const stored = this.get(namespace, name ?? '');
    if (stored?.metadata?.resourceVersion !== existing.metadata?.resourceVersion)
      return Promise.reject(new Error('409 conflict'));
    this.writes.push(`set ${namespace} ${Object.keys(data).join(',')}`);
    const next = { ...stored?.data };
    for (const [key, value] of Object.entries(data)) {
      if (value === null) delete next[key];
      else next[key] = value;
    }
    this.#version += 1;
    this.put({
      ...stored,
      data: next,
      metadata: { ...stored?.metadata, resourceVersion: String(this.#version) },
    });
    return Promise.resolve();
  }
  deleteExactly(secret: V1Secret): Promise<void> {
    const { namespace, name } = secret.metadata ?? {};
    this.writes.push(`delete ${namespace}`);
    this.objects.delete(`${namespace}/${name}`);
    return Promise.resolve();
  }
  onAdd(): void {}
  onUpdate(): void {}
  onDelete(): void {}
}

function setUp() {
  const sources = new MemoryLister<V1Secret>();
  sources.put({
    metadata: { namespace: 'op', name: 'onepassword-token' },
    data: { token: b64('shared-token') },
  });
  const copies = new MemoryCopies();
  const selected = new MemoryLister<V1Namespace>();
  const select = (name: string) => selected.put({ metadata: { name } });
  const unselect = (name: string) => selected.objects.delete(`/${name}`);
  const reconciler = new TokenDistributionReconciler({
    source: { namespace: 'op', name: 'onepassword-token', key: 'token' },
    target: { name: 'onepassword-token', key: 'token' },
    sources,
    copies,
    selected,
    store: copies,
    logger: pino({ level: 'silent' }),
  });
  const token = (namespace: string) => {
    const data = copies.get(namespace, 'onepassword-token')?.data?.token;
    return data === undefined ? undefined : Buffer.from(data, 'base64').toString();
  };
  return { sources, copies, selected, select, unselect, reconciler, token };
}

describe('TokenDistributionReconciler', () => {
  it('copies the token into a selected namespace, labelled as a copy, and removes it when the namespace stops matching', async () => {
    const { copies, select, unselect, reconciler, token } = setUp();
    await reconciler.reconcile('team-a');
    assert.deepEqual(copies.writes, [], 'not selected: nothing');
    select('team-a');
    await reconciler.reconcile('team-a');
    assert.equal(token('team-a'), 'shared-token');
    const copy = copies.get('team-a', 'onepassword-token');
    assert.equal(copy?.metadata?.labels?.[TOKEN_COPY_LABEL], 'true');
    assert.equal(
      copy?.metadata?.annotations?.[TOKEN_COPY_SOURCE_ANNOTATION],
      'op/onepassword-token',
    );
    assert.equal(copy?.type, 'Opaque');
    await reconciler.reconcile('team-a');
    assert.deepEqual(copies.writes, ['create team-a'], 'an equal copy is not written again');
    unselect('team-a');
    await reconciler.reconcile('team-a');
    assert.equal(copies.get('team-a', 'onepassword-token'), undefined);
    assert.deepEqual(copies.writes, ['create team-a', 'delete team-a']);
  });

  it('never writes or deletes a Secret of that name it did not create', async () => {
    const { copies, select, unselect, reconciler } = setUp();
    const own: V1Secret = {
      metadata: { namespace: 'team-b', name: 'onepassword-token', resourceVersion: '7' },
      data: { token: b64('team-b-own-token') },
    };
    copies.put(own);
    select('team-b');
    await reconciler.reconcile('team-b');
    unselect('team-b');
    await reconciler.reconcile('team-b');
    assert.deepEqual(copies.writes, []);
    assert.deepEqual(copies.get('team-b', 'onepassword-token'), own);
    // One created between the cache read and the create: refused by the apiserver, not replaced.
    select('team-c');
    const racing = copies.create.bind(copies);
    copies.create = (secret) => {
      copies.put({ metadata: { namespace: 'team-c', name: 'onepassword-token' }, data: {} });
      return racing(secret);
    };
    await reconciler.reconcile('team-c');
    assert.deepEqual(copies.writes, ['create refused team-c']);
    assert.equal(isTokenCopy(copies.get('team-c', 'onepassword-token')), false);
  });

  it('follows a rotated source token, restores a copy edited by hand, and keeps copies while the source is missing', async () => {
    const { sources, copies, select, reconciler, token } = setUp();
    select('team-a');
    await reconciler.reconcile('team-a');
    sources.put({
      metadata: { namespace: 'op', name: 'onepassword-token' },
      data: { token: b64('rotated-token') },
    });
    await reconciler.reconcile('team-a');
    assert.equal(token('team-a'), 'rotated-token');
    const copy = copies.get('team-a', 'onepassword-token');
    copies.put({ ...copy, data: { ...copy?.data, extra: b64('x') } });
    await reconciler.reconcile('team-a');
    assert.deepEqual(Object.keys(copies.get('team-a', 'onepassword-token')?.data ?? {}), ['token']);
    sources.objects.clear();
    await reconciler.reconcile('team-a');
    assert.equal(token('team-a'), 'rotated-token');
    assert.deepEqual(copies.writes, [
      'create team-a',
      'set team-a token',
      'set team-a extra,token',
    ]);
  });

  it("never touches the source's own namespace, nor a namespace being deleted", async () => {
    const { copies, select, selected, reconciler } = setUp();
    select('op');
    await reconciler.reconcile('op');
    selected.put({ metadata: { name: 'gone', deletionTimestamp: new Date() } });
    await reconciler.reconcile('gone');
    assert.deepEqual(copies.writes, []);
  });

  it('lists the namespaces holding a copy (and only copies) as keys', () => {
    const copies = new MemoryCopies();
    copies.put({
      metadata: {
        namespace: 'a',
        name: 'onepassword-token',
        labels: { [TOKEN_COPY_LABEL]: 'true' },
      },
    });
    copies.put({ metadata: { namespace: 'b', name: 'onepassword-token' } });
    assert.deepEqual(copyNamespaces(copies).keys(), ['a']);
  });
});
