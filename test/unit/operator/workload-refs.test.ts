import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidAnnotationError,
  podSpecUsesSecret,
  shouldRestart,
} from '../../../src/operator/workload-refs.ts';

describe('podSpecUsesSecret', () => {
  const uses: [string, object][] = [
    [
      'env secretKeyRef',
      {
        containers: [
          {
            name: 'a',
            env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'k' } } }],
          },
        ],
      },
    ],
    [
      'envFrom secretRef',
      { containers: [{ name: 'a', envFrom: [{ secretRef: { name: 'db' } }] }] },
    ],
    [
      'an init container',
      {
        containers: [{ name: 'a' }],
        initContainers: [{ name: 'i', envFrom: [{ secretRef: { name: 'db' } }] }],
      },
    ],
    [
      'a secret volume',
      { containers: [{ name: 'a' }], volumes: [{ name: 'v', secret: { secretName: 'db' } }] },
    ],
    [
      'a projected volume',
      {
        containers: [{ name: 'a' }],
        volumes: [{ name: 'v', projected: { sources: [{ secret: { name: 'db' } }] } }],
      },
    ],
  ];
  for (const [how, spec] of uses) {
    it(`finds the Secret in ${how}`, () =>
      assert.equal(podSpecUsesSecret(spec as never, 'db'), true));
  }
  it('does not match other Secrets, ConfigMaps or nothing', () => {
    assert.equal(
      podSpecUsesSecret(
        {
          containers: [
            {
              name: 'a',
              envFrom: [{ secretRef: { name: 'other' } }, { configMapRef: { name: 'db' } }],
            },
          ],
        },
        'db',
      ),
      false,
    );
    assert.equal(podSpecUsesSecret(undefined, 'db'), false);
  });
});

describe('shouldRestart precedence: item > workload > namespace > AUTO_RESTART', () => {
  const on = { 'operator.1password.io/auto-restart': 'true' };
  const off = { 'operator.1password.io/auto-restart': 'false' };
  const cases: [string, Parameters<typeof shouldRestart>[0], boolean][] = [
    ['global only', { global: true }, true],
    ['nothing set', { global: false }, false],
    ['namespace over global', { namespace: off, global: true }, false],
    ['workload over namespace', { workload: on, namespace: off, global: false }, true],
    ['item over workload', { item: off, workload: on, namespace: on, global: true }, false],
    ['item on alone', { item: on, global: false }, true],
    [
      'case-insensitive',
      { item: { 'operator.1password.io/auto-restart': 'TRUE' }, global: false },
      true,
    ],
  ];
  for (const [name, sources, expected] of cases) {
    it(name, () => assert.equal(shouldRestart(sources), expected));
  }
  it('refuses a value other than true or false with InvalidAnnotation', () => {
    assert.throws(
      () =>
        shouldRestart({ workload: { 'operator.1password.io/auto-restart': 'yes' }, global: false }),
      (error: unknown) =>
        error instanceof InvalidAnnotationError &&
        error.reason === 'InvalidAnnotation' &&
        /the workload/.test(error.message),
    );
  });
});
