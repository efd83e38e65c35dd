// The JSON patch mutatePod builds from its own steps, against the mutation it replaced (a deep copy
// changed in place, then diffed): for any pod, the patch applied to the pod as sent gives exactly
// the pod the old mutation gave, and the pod as sent is left untouched.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Operation } from 'fast-json-patch';
import type { V1Pod } from '@kubernetes/client-node';
import { admit, parseAdmissionReview } from '../../../src/webhook/admission.ts';
import { defaultInjectionOptions, mutatePod } from '../../../src/webhook/mutate.ts';
import type { InjectionOptions, ResolvedImage } from '../../../src/webhook/mutate.ts';
import { checkPodShape } from '../../../src/webhook/pod-shape.ts';
import { appliedPatch, decodedPatch } from '../../support/admission-answers.ts';
import { mutatePod as mutateByCopy } from '../../support/mutate-by-copy.ts';

const RUNS = 3_000;

const INIT_NAMES = ['i0', 'i1', 'copy-op-bin'] as const;
const CONTAINER_NAMES = ['app', 'worker', 'side'] as const;

/** Mostly the value: absent and null are edge cases, and the pods should mostly be injected. */
const optionalField = <T>(value: fc.Arbitrary<T>): fc.Arbitrary<T | null | undefined> =>
  fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 1 },
    { arbitrary: fc.constant(null), weight: 1 },
    { arbitrary: value, weight: 4 },
  );

/** `common` most of the time, else one of `rare`. */
const mostly = <T>(common: T, ...rare: T[]): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: fc.constant(common), weight: 4 }, fc.constantFrom(...rare));

const envVar = fc.record(
  {
    name: fc.constantFrom(
      'OP_CONNECT_HOST',
      'OP_CONNECT_TOKEN',
      'OP_SERVICE_ACCOUNT_TOKEN',
      'OP_INTEGRATION_NAME',
      'OP_INTEGRATION_BUILDNUMBER',
      'DB_PASSWORD',
    ),
    value: fc.constantFrom('op://vault/item/field', 'x'),
  },
  { noNullPrototype: true },
);

const mount = fc.constantFrom(
  { name: 'op-bin', mountPath: '/op/bin' },
  { name: 'op-bin', mountPath: '/op/bin/', readOnly: true },
  { name: 'op-bin', mountPath: '/elsewhere' },
  { name: 'data', mountPath: '/data' },
);

const command = mostly<string[]>(
  ['/bin/app'],
  ['/op/bin/op', 'run', '--', '/bin/app'],
  ['/op/bin/op', 'run'],
  [],
);

function container(name: string): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record(
      {
        command: fc.oneof({ arbitrary: command, weight: 6 }, fc.constantFrom(undefined, null)),
        args: optionalField(fc.constantFrom(['--serve'], [])),
        env: optionalField(fc.array(envVar, { maxLength: 4 })),
        envFrom: fc.constantFrom(undefined, [{ secretRef: { name: 'creds' } }]),
        volumeMounts: optionalField(fc.array(mount, { maxLength: 2 })),
      },
      { noNullPrototype: true },
    )
    .map((fields) => ({
      name,
      image: `${name}:1`,
      ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
    }));
}

const containerList = (
  names: readonly string[],
  minLength: number,
): fc.Arbitrary<Record<string, unknown>[]> =>
  fc
    .uniqueArray(fc.constantFrom(...names), { minLength, maxLength: names.length })
    .chain((chosen) => fc.tuple(...chosen.map(container)));

const resolvedImage: fc.Arbitrary<ResolvedImage> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'failed' as const, why: 'registry unreachable' }), weight: 1 },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('resolved' as const),
      start: fc.record({
        entrypoint: fc.constantFrom([], ['/entry'], ['/op/bin/op', 'run', '--', '/entry']),
        cmd: fc.constantFrom([], ['serve', '--port=80']),
      }),
    }),
  },
);

const annotationKey = fc.constantFrom('a/b', 'x~y', 'a~1b', '~', 'example.com/owner', 'plain');

const pods = fc
  .record(
    {
      injectShare: fc.double({ min: 0, max: 1, noNaN: true }),
      unknownName: fc.oneof({ arbitrary: fc.constant(false), weight: 15 }, fc.constant(true)),
      status: mostly<string | undefined>(undefined, '', 'false', 'Injected'),
      initFirst: mostly<string | undefined>(undefined, 'true', 'false', ' TRUE ', 'maybe'),
      version: mostly<string | undefined>(undefined, '2', '2.30.0', 'bad tag!'),
      extra: fc.dictionary(annotationKey, fc.string({ maxLength: 4 }), { noNullPrototype: true }),
      initContainers: optionalField(containerList(INIT_NAMES, 0)),
      containers: fc.oneof(
        { arbitrary: fc.constant(null), weight: 1 },
        { arbitrary: containerList(CONTAINER_NAMES, 1), weight: 6 },
      ),
      volumes: optionalField(
        fc.subarray([
          { name: 'data', emptyDir: {} },
          { name: 'op-bin', emptyDir: { medium: 'Memory' } },
          { name: 'config', configMap: { name: 'c' } },
        ]),
      ),
    },
    { noNullPrototype: true },
  )
  .map((fields) => {
    // Names of containers the pod has, about `injectShare` of them, at least one.
    const names = [...(fields.initContainers ?? []), ...(fields.containers ?? [])].map(
      ({ name }) => name as string,
    );
    const inject = names.filter(
      (_, index) => index === 0 || (index * 0.37) % 1 < fields.injectShare,
    );
    if (fields.unknownName || inject.length === 0) inject.push('missing');
    const annotations: Record<string, string> = {
      ...fields.extra,
      'operator.1password.io/inject': inject.join(', '),
    };
    if (fields.status !== undefined) annotations['operator.1password.io/status'] = fields.status;
    if (fields.initFirst !== undefined) {
      annotations['operator.1password.io/injector-init-first'] = fields.initFirst;
    }
    if (fields.version !== undefined) annotations['operator.1password.io/version'] = fields.version;
    const spec: Record<string, unknown> = { containers: fields.containers };
    if (fields.initContainers !== undefined) spec.initContainers = fields.initContainers;
    if (fields.volumes !== undefined) spec.volumes = fields.volumes;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'ns', annotations },
      spec,
    } as unknown as V1Pod;
  });

const images = fc.option(
  fc.dictionary(fc.constantFrom(...INIT_NAMES, ...CONTAINER_NAMES), resolvedImage, {
    noNullPrototype: true,
  }),
  { nil: undefined },
);

const injectionOptions: fc.Arbitrary<InjectionOptions> = fc
  .record({
    injectToken: fc.constantFrom('auto' as const, 'never' as const),
    connectHost: fc.constantFrom(undefined, 'http://onepassword-connect.op:8080'),
  })
  .map(({ injectToken, connectHost }) => ({
    ...defaultInjectionOptions('1.2.3'),
    injectToken,
    connectHost,
  }));

/** Through JSON, as the apiserver receives it. */
const wire = (patch: unknown): Operation[] => JSON.parse(JSON.stringify(patch)) as Operation[];

describe('mutatePod: the patch built from the mutation steps', () => {
  it(`applied to the pod sent, gives exactly the pod the copy-and-change mutation gave (${RUNS} pods)`, () => {
    const seen = { mutated: 0, patchedWhole: 0, deny: 0, skip: 0 };
    fc.assert(
      fc.property(pods, images, injectionOptions, (pod, imageRecord, options) => {
        assert.equal(checkPodShape(pod as unknown as Record<string, unknown>).kind, 'readable');
        const resolved = imageRecord ? new Map(Object.entries(imageRecord)) : undefined;
        const sent = structuredClone(pod);
        const result = mutatePod(pod, options, resolved);
        const before = mutateByCopy(structuredClone(pod), options, resolved);
        assert.deepEqual(pod, sent, 'mutatePod changed the pod it was given');
        seen[result.kind] += 1;
        if (result.kind !== 'mutated' || before.kind !== 'mutated') {
          assert.deepEqual(result, before);
          return;
        }
        assert.deepEqual(result.pod, before.pod);
        assert.deepEqual(result.injected, before.injected);
        assert.deepEqual(appliedPatch(pod, wire(result.patch)), before.pod);
        if (result.patch.some((operation) => operation.path === '/spec/initContainers')) {
          seen.patchedWhole += 1;
        }
      }),
      { numRuns: RUNS },
    );
    // The generator reaches every branch, or the property says little.
    assert.ok(seen.mutated > RUNS / 10, JSON.stringify(seen));
    assert.ok(seen.patchedWhole > 0 && seen.patchedWhole < seen.mutated, JSON.stringify(seen));
    assert.ok(seen.deny > 0 && seen.skip > 0, JSON.stringify(seen));
  });

  it('admit answers with that patch: applied to the review object, the old mutation result', () => {
    fc.assert(
      fc.property(pods, injectionOptions, (pod, options) => {
        const review = parseAdmissionReview({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: {
            uid: 'u',
            kind: { group: '', version: 'v1', kind: 'Pod' },
            operation: 'CREATE',
            object: pod as unknown as Record<string, unknown>,
          },
        });
        const { response } = admit(review, options);
        const before = mutateByCopy(structuredClone(pod), options);
        if (before.kind !== 'mutated') {
          assert.equal(response.patch, undefined);
          return;
        }
        assert.ok(response.patch);
        assert.deepEqual(appliedPatch(pod, decodedPatch(response.patch)), before.pod);
      }),
      { numRuns: 1_000 },
    );
  });
});
