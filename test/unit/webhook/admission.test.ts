import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Operation } from 'fast-json-patch';
import type { V1Pod } from '@kubernetes/client-node';
import {
  InvalidAdmissionReviewError,
  admit,
  parseAdmissionReview,
  reviewReply,
} from '../../../src/webhook/admission.ts';
import type { AdmissionResponse, AdmissionReview } from '../../../src/webhook/admission.ts';
import { defaultInjectionOptions, mutatePod } from '../../../src/webhook/mutate.ts';
import type { InjectionOptions } from '../../../src/webhook/mutate.ts';
import { appliedPatch, decodedPatch, webhookFixture } from '../../support/admission-answers.ts';

const options: InjectionOptions = {
  ...defaultInjectionOptions('0.1.0'),
  connectHost: 'http://onepassword-connect.op:8080',
};

function review(object: unknown, overrides: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'uid-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      object,
      ...overrides,
    },
  };
}

function decodePatch(response: AdmissionResponse): Operation[] {
  assert.equal(response.patchType, 'JSONPatch');
  assert.ok(response.patch);
  return decodedPatch(response.patch);
}

/** What the apiserver does with the answer: the patch applied to the object it sent. */
function applied(original: unknown, response: AdmissionResponse): unknown {
  return appliedPatch(original, decodePatch(response));
}

function objectOf(body: Record<string, unknown>): V1Pod {
  return (body.request as { object: V1Pod }).object;
}

describe('admit: Pod CREATE', () => {
  for (const name of ['pod-create-v1', 'pod-create-v1beta1']) {
    it(`answers ${name} in its own apiVersion with a patch giving the mutated pod`, () => {
      const body = webhookFixture(name);
      const reply = admit(parseAdmissionReview(body), options);
      assert.equal(reply.apiVersion, body.apiVersion);
      assert.equal(reply.kind, 'AdmissionReview');
      assert.equal(reply.response.uid, (body.request as { uid: string }).uid);
      assert.equal(reply.response.allowed, true);
      const expected = mutatePod(objectOf(body), options);
      assert.equal(expected.kind, 'mutated');
      assert.deepEqual(applied(objectOf(body), reply.response), expected.pod);
    });
  }

  it('puts copy-op-bin before the injected init container in the fixture', () => {
    const body = webhookFixture('pod-create-v1');
    const pod = applied(objectOf(body), admit(parseAdmissionReview(body), options).response);
    assert.deepEqual(
      (pod as V1Pod).spec?.initContainers?.map((container) => container.name),
      ['wait-for-db', 'copy-op-bin', 'migrate'],
    );
  });

  it('escapes "/" in the status annotation key as ~1', () => {
    const body = webhookFixture('pod-create-v1');
    const patch = decodePatch(admit(parseAdmissionReview(body), options).response);
    assert.ok(
      patch.some(
        (op) =>
          op.op === 'add' &&
          op.path === '/metadata/annotations/operator.1password.io~1status' &&
          op.value === 'injected',
      ),
      JSON.stringify(patch),
    );
  });

  it('adds whole arrays where the pod has none (volumes, initContainers, env, mounts)', () => {
    const pod = {
      metadata: { annotations: { 'operator.1password.io/inject': 'a' } },
      spec: { containers: [{ name: 'a', image: 'a', command: ['a'] }] },
    };
    const response = admit(parseAdmissionReview(review(pod)), options).response;
    const mutated = mutatePod(pod, options);
    assert.equal(mutated.kind, 'mutated');
    assert.deepEqual(applied(pod, response), mutated.pod);
  });

  it('allows pods without the annotation, with no patch', () => {
    const response = admit(
      parseAdmissionReview(review({ metadata: {}, spec: { containers: [{ name: 'a' }] } })),
      options,
    ).response;
    assert.deepEqual(response, { uid: 'uid-1', allowed: true });
  });

  it('allows an already injected pod with no patch', () => {
    const body = webhookFixture('pod-create-v1');
    const once = applied(objectOf(body), admit(parseAdmissionReview(body), options).response);
    const again = admit(parseAdmissionReview(review(once)), options).response;
    assert.deepEqual(again, { uid: 'uid-1', allowed: true });
  });

  it('denies with status 400 and the mutation message', () => {
    const pod = {
      metadata: { annotations: { 'operator.1password.io/inject': 'app' } },
      spec: { containers: [{ name: 'app', image: 'app' }] },
    };
    const response = admit(parseAdmissionReview(review(pod)), options).response;
    assert.equal(response.allowed, false);
    assert.equal(response.patch, undefined);
    assert.equal(response.status?.code, 400);
    assert.equal(response.status?.reason, 'BadRequest');
    assert.match(response.status?.message ?? '', /container "app" has no command/);
  });

  it('denies a Pod CREATE that carries no object', () => {
    for (const object of [undefined, null]) {
      const response = admit(parseAdmissionReview(review(object)), options).response;
      assert.equal(response.allowed, false);
      assert.match(response.status?.message ?? '', /carries no object/);
    }
  });
});

describe('admit: everything else is allowed unchanged', () => {
  it('UPDATE (a running pod cannot change its containers)', () => {
    const body = webhookFixture('pod-update-v1');
    const reply = admit(parseAdmissionReview(body), options);
    assert.deepEqual(reply, {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '3e9d7c1a-8b2f-4d6e-a0c4-9f1e2d3c4b5a', allowed: true },
    });
  });

  const others: [string, Record<string, unknown>][] = [
    ['DELETE', { operation: 'DELETE' }],
    ['CONNECT', { operation: 'CONNECT' }],
    ['another kind', { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }],
    ['a Pod kind in another group', { kind: { group: 'example.com', version: 'v1', kind: 'Pod' } }],
    ['a subresource', { subResource: 'ephemeralcontainers' }],
  ];
  const annotated = {
    metadata: { annotations: { 'operator.1password.io/inject': 'a' } },
    spec: { containers: [{ name: 'a', image: 'a', command: ['a'] }] },
  };
  for (const [what, overrides] of others) {
    it(what, () => {
      const response = admit(parseAdmissionReview(review(annotated, overrides)), options).response;
      assert.deepEqual(response, { uid: 'uid-1', allowed: true });
    });
  }
});

describe('parseAdmissionReview', () => {
  it('keeps the fields op-kube reads', () => {
    const parsed: AdmissionReview = parseAdmissionReview(webhookFixture('pod-create-v1'));
    assert.equal(parsed.apiVersion, 'admission.k8s.io/v1');
    assert.equal(parsed.request.namespace, 'shop');
    assert.equal(parsed.request.operation, 'CREATE');
    assert.deepEqual(parsed.request.kind, { group: '', version: 'v1', kind: 'Pod' });
    assert.equal(parsed.request.name, undefined);
    assert.ok(parsed.request.object);
  });

  const valid = review({});
  const malformed: [string, unknown, RegExp][] = [
    ['not an object', 'x', /not a JSON object/],
    ['an array', [], /not a JSON object/],
    ['null', null, /not a JSON object/],
    [
      'an unknown apiVersion',
      { ...(valid as object), apiVersion: 'admission.k8s.io/v2' },
      /apiVersion/,
    ],
    ['no apiVersion', { ...(valid as object), apiVersion: undefined }, /apiVersion/],
    ['another kind', { ...(valid as object), kind: 'Pod' }, /kind "Pod" is not AdmissionReview/],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /no request/],
    ['no uid', review({}, { uid: undefined }), /uid/],
    ['an empty uid', review({}, { uid: '' }), /uid/],
    ['no request.kind', review({}, { kind: undefined }), /request.kind/],
    [
      'a request.kind without group',
      review({}, { kind: { version: 'v1', kind: 'Pod' } }),
      /request.kind/,
    ],
    ['no operation', review({}, { operation: undefined }), /operation/],
    ['a non-string namespace', review({}, { namespace: 3 }), /namespace/],
    ['an object that is not an object', review('pod'), /request.object/],
    ['an object that is an array', review([]), /request.object/],
  ];
  for (const [what, body, message] of malformed) {
    it(`rejects ${what}`, () => {
      assert.throws(
        () => parseAdmissionReview(body),
        (error: unknown) =>
          error instanceof InvalidAdmissionReviewError &&
          error.reason === 'InvalidAdmissionReview' &&
          error.httpStatus === 400 &&
          message.test(error.message),
      );
    });
  }
});

describe('reviewReply', () => {
  it('answers a valid review with 200', () => {
    const body = webhookFixture('pod-create-v1beta1');
    const reply = reviewReply(body, options);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, admit(parseAdmissionReview(body), options));
  });

  it('answers a malformed one with 400 and a Status', () => {
    assert.deepEqual(reviewReply({ kind: 'AdmissionReview' }, options), {
      status: 400,
      body: {
        apiVersion: 'v1',
        kind: 'Status',
        status: 'Failure',
        code: 400,
        reason: 'InvalidAdmissionReview',
        message: 'apiVersion undefined is not one of admission.k8s.io/v1, admission.k8s.io/v1beta1',
      },
    });
  });
});

describe('admit properties', () => {
  const envVar = fc.record(
    {
      name: fc.oneof(
        fc.constantFrom('OP_CONNECT_HOST', 'OP_CONNECT_TOKEN', 'OP_INTEGRATION_NAME', 'X'),
        fc.string({ minLength: 1, maxLength: 8 }),
      ),
      value: fc.string({ maxLength: 12 }),
    },
    { noNullPrototype: true },
  );
  const annotationKey = fc.oneof(
    fc.constantFrom('a/b', 'x~y', 'a~1b', 'example.com/owner', '~'),
    fc.string({ minLength: 1, maxLength: 12 }),
  );

  it('the patch turns the pod sent into the mutated pod, for arbitrary env and annotations', () => {
    fc.assert(
      fc.property(
        fc.array(envVar, { maxLength: 6 }),
        fc.array(envVar, { maxLength: 6 }),
        fc.dictionary(
          annotationKey.filter((key) => key !== '__proto__'),
          fc.string({ maxLength: 8 }),
          { noNullPrototype: true },
        ),
        fc.boolean(),
        fc.nat({ max: 3 }),
        (appEnv, initEnv, extraAnnotations, initFirst, inits) => {
          const pod = {
            metadata: {
              annotations: {
                ...extraAnnotations,
                'operator.1password.io/inject': 'app,i1',
                'operator.1password.io/status': '',
                ...(initFirst ? { 'operator.1password.io/injector-init-first': 'true' } : {}),
              },
            },
            spec: {
              initContainers: Array.from({ length: inits }, (_, index) => ({
                name: `i${index}`,
                image: 'i',
                command: ['i'],
                env: initEnv,
              })),
              containers: [{ name: 'app', image: 'a', command: ['a'], env: appEnv }],
            },
          };
          if (inits < 2) pod.metadata.annotations['operator.1password.io/inject'] = 'app';
          const response = admit(parseAdmissionReview(review(pod)), options).response;
          const mutated = mutatePod(pod, options);
          assert.equal(mutated.kind, 'mutated');
          assert.deepEqual(applied(pod, response), mutated.pod);
        },
      ),
    );
  });
});
