// Reviews the mutation cannot read: a denial naming the path, a 400 for a broken review, never a throw (issue #10, defect 7).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { reviewReply, type ReviewReply } from '../../../src/webhook/admission.ts';
import { defaultInjectionOptions } from '../../../src/webhook/mutate.ts';
import type { InjectionOptions } from '../../../src/webhook/mutate.ts';
import { appliedPatch, decodedPatch, webhookFixture } from '../../support/admission-answers.ts';

const options: InjectionOptions = {
  ...defaultInjectionOptions('0.1.0'),
  connectHost: 'http://onepassword-connect.op:8080',
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = readonly (string | number)[];

const fixture = webhookFixture<Record<string, Json>>;

/** A copy of `document` with the node at `path` replaced, or removed when `value` is undefined. */
function edit(document: Json, path: Path, value: Json | undefined): Json {
  const copy = structuredClone(document);
  let node = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  const last = path.at(-1) as string | number;
  if (value !== undefined) node[last] = value;
  else if (Array.isArray(node)) node.splice(last as number, 1);
  else delete node[last];
  return copy;
}

/** The v1 CREATE fixture (inject "checkout, migrate") with the pod's node at `path` changed. */
function podWith(path: Path, value: Json | undefined, name = 'pod-create-v1'): Json {
  return edit(fixture(name), ['request', 'object', ...path], value);
}

const INJECT = 'operator.1password.io/inject';

function uidOf(body: Json): string {
  return ((body as { request: { uid: string } }).request ?? {}).uid;
}

function assertDenied(reply: ReviewReply, body: Json, message: string | RegExp): void {
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  if (reply.status !== 200) return;
  const { response } = reply.body;
  assert.equal(response.uid, uidOf(body));
  assert.equal(response.allowed, false, JSON.stringify(response));
  assert.equal(response.patch, undefined);
  assert.equal(response.status?.code, 400);
  assert.equal(response.status?.reason, 'BadRequest');
  if (typeof message === 'string')
    assert.ok(response.status?.message.includes(message), response.status?.message);
  else assert.match(response.status?.message ?? '', message);
}

/** The pod after the apiserver applies the patch in `reply`, or the pod unchanged without one. */
function admitted(reply: ReviewReply, body: Json): V1Pod {
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.ok(reply.status === 200);
  const { response } = reply.body;
  assert.equal(response.uid, uidOf(body));
  assert.equal(response.allowed, true, JSON.stringify(response));
  const sent = (body as unknown as { request: { object: V1Pod } }).request.object;
  if (response.patch === undefined) return sent;
  return appliedPatch(sent, decodedPatch(response.patch));
}

describe('a Pod CREATE the mutation cannot read is denied, naming the path', () => {
  const denials: [string, Path, Json | undefined, string][] = [
    [
      'a numeric inject annotation',
      ['metadata', 'annotations', INJECT],
      5,
      'metadata.annotations["operator.1password.io/inject"] must be a string, not a number',
    ],
    [
      'a boolean status annotation',
      ['metadata', 'annotations', 'operator.1password.io/status'],
      true,
      'metadata.annotations["operator.1password.io/status"] must be a string, not a boolean',
    ],
    [
      'a null version annotation',
      ['metadata', 'annotations', 'operator.1password.io/version'],
      null,
      'metadata.annotations["operator.1password.io/version"] must be a string, not null',
    ],
    [
      'an object as the init-first annotation',
      ['metadata', 'annotations', 'operator.1password.io/injector-init-first'],
      {},
      'metadata.annotations["operator.1password.io/injector-init-first"] must be a string, not an object',
    ],
    [
      'annotations that are a list',
      ['metadata', 'annotations'],
      [INJECT],
      'metadata.annotations must be an object, not an array',
    ],
    ['metadata that is a number', ['metadata'], 7, 'metadata must be an object, not a number'],
    ['a spec that is a list', ['spec'], [], 'spec must be an object, not an array'],
    [
      'containers that are an object',
      ['spec', 'containers'],
      { checkout: { name: 'checkout' } },
      'spec.containers must be an array, not an object',
    ],
    [
      'containers that are a string',
      ['spec', 'containers'],
      'checkout',
      'spec.containers must be an array, not a string',
    ],
    [
      'init containers that are a string',
      ['spec', 'initContainers'],
      'migrate',
      'spec.initContainers must be an array, not a string',
    ],
    [
      'a null container',
      ['spec', 'containers', 1],
      null,
      'spec.containers[1] must be an object, not null',
    ],
    [
      'a container without a name',
      ['spec', 'containers', 1, 'name'],
      undefined,
      'spec.containers[1].name is missing (it must be a string)',
    ],
    [
      'a numeric container name',
      ['spec', 'initContainers', 0, 'name'],
      5,
      'spec.initContainers[0].name must be a string, not a number',
    ],
    [
      'an env that is a string',
      ['spec', 'containers', 0, 'env'],
      'DATABASE_URL=x',
      'spec.containers[0].env must be an array, not a string',
    ],
    [
      'a null env entry',
      ['spec', 'containers', 0, 'env', 1],
      null,
      'spec.containers[0].env[1] must be an object, not null',
    ],
    [
      'a numeric env name',
      ['spec', 'initContainers', 1, 'env', 0, 'name'],
      1,
      'spec.initContainers[1].env[0].name must be a string, not a number',
    ],
    [
      // Before the fix this was spread into ["/","a","p","p",…]: silent corruption, not a crash.
      'a command that is a string',
      ['spec', 'containers', 0, 'command'],
      '/app/checkout',
      'spec.containers[0].command must be an array, not a string',
    ],
    [
      'a numeric command word',
      ['spec', 'containers', 0, 'command', 0],
      5,
      'spec.containers[0].command[0] must be a string, not a number',
    ],
    [
      'volume mounts that are an object',
      ['spec', 'containers', 0, 'volumeMounts'],
      {},
      'spec.containers[0].volumeMounts must be an array, not an object',
    ],
    [
      'a null volume mount',
      ['spec', 'containers', 0, 'volumeMounts', 0],
      null,
      'spec.containers[0].volumeMounts[0] must be an object, not null',
    ],
    [
      'a numeric mount path',
      ['spec', 'containers', 0, 'volumeMounts', 0, 'mountPath'],
      5,
      'spec.containers[0].volumeMounts[0].mountPath must be a string, not a number',
    ],
    [
      'envFrom that is a string',
      ['spec', 'containers', 0, 'envFrom'],
      'secret',
      'spec.containers[0].envFrom must be an array, not a string',
    ],
    [
      'volumes that are an object',
      ['spec', 'volumes'],
      {},
      'spec.volumes must be an array, not an object',
    ],
    ['a null volume', ['spec', 'volumes', 0], null, 'spec.volumes[0] must be an object, not null'],
    [
      'an op-bin volume whose emptyDir is a string',
      ['spec', 'volumes', 0],
      { name: 'op-bin', emptyDir: 'Memory' },
      'spec.volumes[0].emptyDir must be an object, not a string',
    ],
  ];
  for (const [what, path, value, message] of denials) {
    it(what, () => {
      const body = podWith(path, value);
      assertDenied(reviewReply(body, options), body, message);
    });
  }

  it('lists every problem at once, init containers first as the mutation reads them', () => {
    let body = podWith(['spec', 'containers', 0, 'env'], 'x');
    body = edit(body, ['request', 'object', 'spec', 'initContainers', 1, 'command'], 'migrate');
    assertDenied(
      reviewReply(body, options),
      body,
      'spec.initContainers[1].command must be an array, not a string; ' +
        'spec.containers[0].env must be an array, not a string',
    );
  });

  it('bounds the message for a pod with thousands of problems', () => {
    const containers = Array.from({ length: 5_000 }, () => null);
    const body = podWith(['spec', 'containers'], containers);
    const reply = reviewReply(body, options);
    assertDenied(reply, body, 'spec.containers[0] must be an object, not null');
    assert.ok(reply.status === 200);
    const message = reply.body.response.status?.message ?? '';
    assert.match(message, /and 4990 more problems/);
    assert.ok(message.length < 1_000, `${message.length} characters`);
  });

  it('names no value in a denial, only paths and types', () => {
    const canary = 'op-kube-canary-4f9d';
    let body = podWith(['spec', 'containers', 0, 'env', 0, 'name'], { value: canary });
    body = edit(body, ['request', 'object', 'spec', 'containers', 0, 'command'], canary);
    const reply = reviewReply(body, options);
    assertDenied(reply, body, /env\[0\]\.name must be a string, not an object/);
    assert.ok(!JSON.stringify(reply.body).includes(canary));
  });
});

describe('what the mutation does not read is not checked', () => {
  it('admits a pod with no inject annotation whatever its spec holds', () => {
    let body = podWith(['metadata', 'annotations', INJECT], undefined);
    body = edit(body, ['request', 'object', 'spec', 'containers'], 'x');
    body = edit(body, ['request', 'object', 'spec', 'volumes'], 5);
    const reply = reviewReply(body, options);
    assert.deepEqual(
      admitted(reply, body),
      (body as unknown as { request: { object: V1Pod } }).request.object,
    );
    assert.ok(reply.status === 200 && reply.body.response.patch === undefined);
  });

  it('admits an injected pod (status annotation) unchanged, whatever its spec holds', () => {
    let body = podWith(['metadata', 'annotations', 'operator.1password.io/status'], 'Injected');
    body = edit(body, ['request', 'object', 'spec', 'containers'], { x: 1 });
    const reply = reviewReply(body, options);
    admitted(reply, body);
    assert.ok(reply.status === 200 && reply.body.response.patch === undefined);
  });

  it('admits a pod whose inject annotation names no container, whatever its spec holds', () => {
    let body = podWith(['metadata', 'annotations', INJECT], ' , ');
    body = edit(body, ['request', 'object', 'spec'], 'x');
    admitted(reviewReply(body, options), body);
  });

  it('admits a pod with no annotations, or null ones, or null metadata', () => {
    for (const [path, value] of [
      [['metadata', 'annotations'], undefined],
      [['metadata', 'annotations'], null],
      [['metadata'], null],
      [['metadata'], undefined],
    ] as const) {
      const body = podWith(path, value);
      admitted(reviewReply(body, options), body);
    }
  });

  it('injects a pod whose untargeted container and other annotations hold odd values', () => {
    let body = podWith(['spec', 'containers', 1, 'env'], 'x');
    body = edit(body, ['request', 'object', 'spec', 'containers', 1, 'command'], 5);
    body = edit(body, ['request', 'object', 'metadata', 'annotations', 'example.com/n'], 5);
    body = edit(body, ['request', 'object', 'metadata', 'labels'], ['x']);
    const pod = admitted(reviewReply(body, options), body);
    const checkout = pod.spec?.containers[0];
    assert.deepEqual(checkout?.command?.slice(0, 3), ['/op/bin/op', 'run', '--']);
    assert.equal(pod.spec?.containers[1]?.env, 'x', 'untargeted: left as sent');
  });

  it('takes null lists as absent, as Go encodes an empty list (env, mounts, volumes, init containers)', () => {
    let body = podWith(['spec', 'containers', 0, 'env'], null);
    body = edit(body, ['request', 'object', 'spec', 'containers', 0, 'volumeMounts'], null);
    body = edit(body, ['request', 'object', 'spec', 'containers', 0, 'envFrom'], null);
    body = edit(body, ['request', 'object', 'spec', 'volumes'], null);
    body = edit(body, ['request', 'object', 'metadata', 'annotations', INJECT], 'checkout');
    body = edit(body, ['request', 'object', 'spec', 'initContainers'], null);
    const pod = admitted(reviewReply(body, options), body);
    const checkout = pod.spec?.containers[0];
    assert.ok(checkout?.env?.some((variable) => variable.name === 'OP_CONNECT_TOKEN'));
    assert.deepEqual(checkout?.volumeMounts, [
      { name: 'op-bin', mountPath: '/op/bin/', readOnly: true },
    ]);
    assert.deepEqual(
      pod.spec?.initContainers?.map((container) => container.name),
      ['copy-op-bin'],
    );
    assert.deepEqual(pod.spec?.volumes, [{ name: 'op-bin', emptyDir: { medium: 'Memory' } }]);
  });

  it('denies a targeted container whose command is null as having none', () => {
    const body = podWith(['spec', 'containers', 0, 'command'], null);
    assertDenied(reviewReply(body, options), body, 'container "checkout" has no command');
  });
});

describe('keys named like Object.prototype members are plain data', () => {
  it('reads a __proto__ key as a key: no prototype is set, and the patch applies', () => {
    const text = JSON.stringify(fixture('pod-create-v1')).replace(
      '"annotations":{',
      '"annotations":{"__proto__":{"operator.1password.io/inject":"metrics"},"constructor":"x",',
    );
    const body = JSON.parse(text) as Json;
    const pod = admitted(reviewReply(body, options), body);
    // Only the listed containers (checkout, migrate) are wrapped, not "metrics".
    assert.equal(pod.spec?.containers[1]?.command, undefined);
    assert.deepEqual(Object.keys(pod.metadata?.annotations ?? {}).slice(0, 2), [
      '__proto__',
      'constructor',
    ]);
  });
});

describe('reviews as the apiserver sends them', () => {
  it('injects a pod with only init containers ("containers": null), leaving the rest to the apiserver', () => {
    const body = fixture('pod-create-init-only-v1');
    const pod = admitted(reviewReply(body, options), body);
    assert.deepEqual(
      pod.spec?.initContainers?.map((container) => container.name),
      ['copy-op-bin', 'migrate'],
    );
    assert.deepEqual(pod.spec?.initContainers?.[1]?.command?.slice(0, 3), [
      '/op/bin/op',
      'run',
      '--',
    ]);
    // The apiserver's own validation then says "spec.containers: Required value".
    assert.equal(pod.spec?.containers, null);
  });

  it('injects a dry-run CREATE as a real one (sideEffects None)', () => {
    const body = fixture('pod-create-dry-run-v1');
    const pod = admitted(reviewReply(body, options), body);
    assert.equal(pod.metadata?.annotations?.['operator.1password.io/status'], 'injected');
  });

  it('allows a DELETE (object null, oldObject set) unchanged', () => {
    const body = fixture('pod-delete-v1');
    const reply = reviewReply(body, options);
    assert.deepEqual(reply, {
      status: 200,
      body: {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: uidOf(body), allowed: true },
      },
    });
  });

  it('allows another kind sent by a misconfigured webhook unchanged, even when it looks annotated', () => {
    const body = fixture('deployment-create-v1');
    const reply = reviewReply(body, options);
    assert.deepEqual(reply, {
      status: 200,
      body: {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: uidOf(body), allowed: true },
      },
    });
  });

  it('allows an UPDATE whose oldObject and object hold odd shapes: neither is read', () => {
    let body: Json = fixture('pod-update-v1');
    body = edit(body, ['request', 'object', 'spec', 'containers'], 'x');
    body = edit(body, ['request', 'oldObject', 'metadata', 'annotations', INJECT], 5);
    const reply = reviewReply(body, options);
    assert.ok(reply.status === 200);
    assert.deepEqual(reply.body.response, { uid: uidOf(body), allowed: true });
  });
});

describe('a review that is not one is a 400, never a throw', () => {
  const invalid: [string, Json, RegExp][] = [
    ['request that is a list', { ...fixture('pod-create-v1'), request: [] }, /no request/],
    ['a numeric uid', edit(fixture('pod-create-v1'), ['request', 'uid'], 7), /request\.uid/],
    [
      'a uid longer than any the apiserver makes',
      edit(fixture('pod-create-v1'), ['request', 'uid'], 'u'.repeat(10_000)),
      /request\.uid is longer than 128 characters/,
    ],
    [
      'a request.kind that is a string',
      edit(fixture('pod-create-v1'), ['request', 'kind'], 'Pod'),
      /request\.kind/,
    ],
    [
      'a null operation',
      edit(fixture('pod-create-v1'), ['request', 'operation'], null),
      /request\.operation/,
    ],
    [
      'an object that is a number on DELETE',
      edit(fixture('pod-delete-v1'), ['request', 'object'], 5),
      /request\.object/,
    ],
  ];
  for (const [what, body, message] of invalid) {
    it(what, () => {
      const reply = reviewReply(body, options);
      assert.equal(reply.status, 400, JSON.stringify(reply.body));
      assert.ok(reply.status === 400);
      assert.equal(reply.body.kind, 'Status');
      assert.equal(reply.body.reason, 'InvalidAdmissionReview');
      assert.match(reply.body.message, message);
      assert.ok(reply.body.message.length < 300, 'the message does not echo a huge value');
    });
  }
});
