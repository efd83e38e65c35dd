import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import {
  desiredSecret,
  sameData,
  MAX_SECRET_DATA_BYTES,
  secretDiffers,
  secretSizeProblem,
  staleKeys,
  type OwnerObject,
} from '../../../src/operator/desired-secret.ts';

const VAULT = 'v'.repeat(26);
const ITEM = 'i'.repeat(26);
const owner: OwnerObject = {
  apiVersion: 'onepassword.com/v1',
  kind: 'OnePasswordItem',
  metadata: {
    name: 'db',
    namespace: 'apps',
    uid: 'uid-1',
    labels: { team: 'a' },
    annotations: {
      'operator.1password.io/auto-restart': 'true',
      'op-kube.io/resync': '1',
      note: 'x',
    },
  },
};

function desired(copyAnnotations = false): V1Secret {
  return desiredSecret({
    owner,
    secretName: 'db',
    type: 'Opaque',
    vaultId: VAULT,
    itemId: ITEM,
    itemVersion: 3,
    data: new Map([['password', Buffer.from('s3cr3t')]]),
    copyAnnotations,
  });
}

describe('desiredSecret', () => {
  it('adds spec.secretMetadata over the owner labels, never over the keys op-kube manages', () => {
    const secret = desiredSecret({
      owner,
      secretName: 'db',
      type: 'Opaque',
      vaultId: VAULT,
      itemId: ITEM,
      itemVersion: 3,
      data: new Map(),
      copyAnnotations: false,
      secretMetadata: {
        labels: { team: 'b', tier: 'db', 'app.kubernetes.io/managed-by': 'me' },
        annotations: {
          'reloader.example/match': 'true',
          'operator.1password.io/item-version': '99',
          'operator.1password.io/auto-restart': 'false',
          'op-kube.io/resync': 'x',
        },
      },
    });
    assert.deepEqual(secret.metadata?.labels, {
      team: 'b',
      tier: 'db',
      'app.kubernetes.io/managed-by': 'op-kube',
    });
    assert.deepEqual(secret.metadata?.annotations, {
      'operator.1password.io/auto-restart': 'true',
      'reloader.example/match': 'true',
      'operator.1password.io/item-path': `vaults/${VAULT}/items/${ITEM}`,
      'operator.1password.io/item-version': '3',
    });
  });

  it('carries the data, type, owner labels, managed-by label, item annotations, the owner auto-restart (as 1Password copies it) and a controller ownerReference', () => {
    const secret = desired();
    assert.deepEqual(secret.data, { password: Buffer.from('s3cr3t').toString('base64') });
    assert.equal(secret.type, 'Opaque');
    assert.deepEqual(secret.metadata?.labels, {
      team: 'a',
      'app.kubernetes.io/managed-by': 'op-kube',
    });
    assert.deepEqual(secret.metadata?.annotations, {
      'operator.1password.io/auto-restart': 'true',
      'operator.1password.io/item-path': `vaults/${VAULT}/items/${ITEM}`,
      'operator.1password.io/item-version': '3',
    });
    assert.deepEqual(secret.metadata?.ownerReferences, [
      {
        apiVersion: 'onepassword.com/v1',
        kind: 'OnePasswordItem',
        name: 'db',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
  });

  it('copies the owner annotations with --enable-annotations, but not its own resync trigger', () => {
    const annotations = desired(true).metadata?.annotations ?? {};
    assert.equal(annotations['operator.1password.io/auto-restart'], 'true');
    assert.equal(annotations.note, 'x');
    assert.equal('op-kube.io/resync' in annotations, false);
  });
});

describe('comparing Secrets', () => {
  const wanted = desired();
  const current: V1Secret = {
    ...wanted,
    metadata: { ...wanted.metadata, labels: { ...wanted.metadata?.labels, extra: 'kept' } },
  };

  it('sees no difference when only fields op-kube does not own differ', () => {
    assert.equal(secretDiffers(current, wanted), false);
    assert.equal(sameData(current, wanted), true);
  });

  it('sees a changed value, an extra or missing key, a type change, or a lost ownerReference', () => {
    assert.equal(secretDiffers({ ...current, data: { password: 'eA==' } }, wanted), true);
    assert.equal(
      secretDiffers({ ...current, data: { ...current.data, old: 'eA==' } }, wanted),
      true,
    );
    assert.equal(secretDiffers({ ...current, data: {} }, wanted), true);
    assert.equal(secretDiffers({ ...current, type: 'kubernetes.io/tls' }, wanted), true);
    assert.equal(
      secretDiffers({ ...current, metadata: { ...current.metadata, ownerReferences: [] } }, wanted),
      true,
    );
    assert.deepEqual(staleKeys({ ...current, data: { ...current.data, old: 'eA==' } }, wanted), [
      'old',
    ]);
  });
});

describe('secretSizeProblem', () => {
  const sized = (...sizes: number[]) =>
    new Map(sizes.map((size, index) => [`k${index}`, Buffer.alloc(size, 0x61)]));

  it('accepts data up to exactly 1 MiB, counting every value', () => {
    assert.equal(secretSizeProblem(sized(MAX_SECRET_DATA_BYTES), 'db'), undefined);
    assert.equal(
      secretSizeProblem(sized(MAX_SECRET_DATA_BYTES / 2, MAX_SECRET_DATA_BYTES / 2), 'db'),
      undefined,
    );
    assert.equal(secretSizeProblem(new Map(), 'db'), undefined);
  });

  it('refuses one byte more, naming the size and the Secret but no value', () => {
    const problem = secretSizeProblem(
      sized(MAX_SECRET_DATA_BYTES / 2, MAX_SECRET_DATA_BYTES / 2 + 1),
      'db',
    );
    assert.match(problem ?? '', /1048577 bytes, over the 1048576-byte \(1 MiB\) limit/);
    assert.match(problem ?? '', /Secret db keeps its last data/);
    assert.match(problem ?? '', /largest keys, in bytes: k1 524289, k0 524288\)/);
    assert.equal((problem ?? '').includes('aaaa'), false);
  });
});
