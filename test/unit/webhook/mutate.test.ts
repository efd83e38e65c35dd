import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import {
  defaultInjectionOptions,
  integrationBuildNumber,
  mutatePod,
  parseContainerNames,
} from '../../../src/webhook/mutate.ts';
import type { InjectionOptions, MutationResult } from '../../../src/webhook/mutate.ts';

const options: InjectionOptions = {
  ...defaultInjectionOptions('1.2.3'),
  connectHost: 'http://onepassword-connect.op:8080',
};

function pod(annotations: Record<string, string> | undefined, spec: V1Pod['spec']): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'ns', ...(annotations ? { annotations } : {}) },
    spec,
  };
}

const app = (extra: Partial<V1Container> = {}): V1Container => ({
  name: 'app',
  image: 'app:1',
  command: ['/bin/app'],
  ...extra,
});

function mutated(result: MutationResult): V1Pod {
  assert.equal(result.kind, 'mutated', JSON.stringify(result));
  return result.pod;
}

function denied(result: MutationResult): string {
  assert.equal(result.kind, 'deny', JSON.stringify(result));
  return result.message;
}

const byName = (containers: V1Container[] | undefined, name: string): V1Container => {
  const found = containers?.find((container) => container.name === name);
  assert.ok(found, `no container ${name}`);
  return found;
};

const envNames = (container: V1Container): string[] =>
  (container.env ?? []).map((variable) => variable.name);

const COPY_CONTAINER: V1Container = {
  name: 'copy-op-bin',
  image: '1password/op:2',
  imagePullPolicy: 'IfNotPresent',
  command: ['sh', '-c', 'cp /usr/local/bin/op /op/bin/'],
  volumeMounts: [{ name: 'op-bin', mountPath: '/op/bin/' }],
  resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
  securityContext: {
    runAsUser: 65532,
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
    seccompProfile: { type: 'RuntimeDefault' },
  },
};

describe('mutatePod: 1Password contract', () => {
  it('injects a single container exactly as 1Password does, plus the fixes', () => {
    const input = pod({ 'operator.1password.io/inject': 'app' }, { containers: [app()] });
    assert.deepEqual(mutated(mutatePod(input, options)), {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'p',
        namespace: 'ns',
        annotations: {
          'operator.1password.io/inject': 'app',
          'operator.1password.io/status': 'injected',
        },
      },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'app:1',
            command: ['/op/bin/op', 'run', '--', '/bin/app'],
            volumeMounts: [{ name: 'op-bin', mountPath: '/op/bin/', readOnly: true }],
            env: [
              { name: 'OP_CONNECT_HOST', value: 'http://onepassword-connect.op:8080' },
              {
                name: 'OP_CONNECT_TOKEN',
                valueFrom: { secretKeyRef: { name: 'onepassword-token', key: 'token' } },
              },
              { name: 'OP_INTEGRATION_NAME', value: '1Password Kubernetes Webhook' },
              { name: 'OP_INTEGRATION_ID', value: 'K8W' },
              { name: 'OP_INTEGRATION_BUILDNUMBER', value: '1020301' },
            ],
          },
        ],
        initContainers: [COPY_CONTAINER],
        volumes: [{ name: 'op-bin', emptyDir: { medium: 'Memory' } }],
      },
    });
  });

  it('reports the injected containers', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app,worker' },
      {
        initContainers: [app({ name: 'setup' })],
        containers: [app(), app({ name: 'worker' }), app({ name: 'other' })],
      },
    );
    const result = mutatePod(input, options);
    assert.equal(result.kind, 'mutated');
    assert.deepEqual(result.injected, ['app', 'worker']);
  });

  it('injects every listed container and leaves the others alone', () => {
    const other = app({ name: 'other', command: ['/bin/other'] });
    const input = pod(
      { 'operator.1password.io/inject': 'app,worker' },
      { containers: [app(), other, app({ name: 'worker', command: ['/bin/worker', '-v'] })] },
    );
    const out = mutated(mutatePod(input, options));
    assert.deepEqual(byName(out.spec?.containers, 'app').command, [
      '/op/bin/op',
      'run',
      '--',
      '/bin/app',
    ]);
    assert.deepEqual(byName(out.spec?.containers, 'worker').command, [
      '/op/bin/op',
      'run',
      '--',
      '/bin/worker',
      '-v',
    ]);
    assert.deepEqual(byName(out.spec?.containers, 'other'), other);
    assert.equal(out.spec?.initContainers?.length, 1, 'one copy-op-bin for all');
    assert.equal(out.spec?.volumes?.length, 1, 'one op-bin volume for all');
  });

  it('keeps args, existing env, mounts, volumes and annotations', () => {
    const env: V1EnvVar[] = [{ name: 'DB_PASSWORD', value: 'op://vault/db/password' }];
    const input = pod(
      { 'operator.1password.io/inject': 'app', 'team.example/owner': 'alice' },
      {
        containers: [
          app({
            args: ['--port', '8080'],
            env,
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          }),
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    );
    const out = mutated(mutatePod(input, options));
    const container = byName(out.spec?.containers, 'app');
    assert.deepEqual(container.args, ['--port', '8080']);
    assert.deepEqual(container.env?.[0], env[0]);
    assert.deepEqual(container.volumeMounts, [
      { name: 'data', mountPath: '/data' },
      { name: 'op-bin', mountPath: '/op/bin/', readOnly: true },
    ]);
    assert.deepEqual(out.spec?.volumes, [
      { name: 'data', emptyDir: {} },
      { name: 'op-bin', emptyDir: { medium: 'Memory' } },
    ]);
    assert.equal(out.metadata?.annotations?.['team.example/owner'], 'alice');
    assert.equal(out.metadata?.annotations?.['operator.1password.io/status'], 'injected');
  });

  it('takes the op image tag from the version annotation', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app', 'operator.1password.io/version': '2.30.0' },
      { containers: [app()] },
    );
    const out = mutated(mutatePod(input, options));
    assert.equal(byName(out.spec?.initContainers, 'copy-op-bin').image, '1password/op:2.30.0');
  });

  it('accepts a tag pinned by digest, and uses the configured repository', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const input = pod(
      { 'operator.1password.io/inject': 'app', 'operator.1password.io/version': `2@${digest}` },
      { containers: [app()] },
    );
    const out = mutated(mutatePod(input, { ...options, opImage: 'mirror.example/op' }));
    assert.equal(
      byName(out.spec?.initContainers, 'copy-op-bin').image,
      `mirror.example/op:2@${digest}`,
    );
  });

  it('uses tag 2 when the version annotation is blank', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app', 'operator.1password.io/version': ' ' },
      { containers: [app()] },
    );
    const out = mutated(mutatePod(input, options));
    assert.equal(byName(out.spec?.initContainers, 'copy-op-bin').image, '1password/op:2');
  });

  it('skips pods without the inject annotation', () => {
    assert.equal(mutatePod(pod(undefined, { containers: [app()] }), options).kind, 'skip');
    assert.equal(mutatePod(pod({ other: 'x' }, { containers: [app()] }), options).kind, 'skip');
  });

  it('skips pods already injected, whatever the case of the status value', () => {
    for (const status of ['injected', 'Injected', ' INJECTED ']) {
      const input = pod(
        { 'operator.1password.io/inject': 'app', 'operator.1password.io/status': status },
        { containers: [app()] },
      );
      assert.equal(mutatePod(input, options).kind, 'skip', status);
    }
  });

  it('skips when the annotation names no container', () => {
    for (const listed of ['', ' ', ',', ' , ,']) {
      const input = pod({ 'operator.1password.io/inject': listed }, { containers: [app()] });
      assert.equal(mutatePod(input, options).kind, 'skip', JSON.stringify(listed));
    }
  });

  it('does not modify its input', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'init,app' },
      {
        initContainers: [app({ name: 'init', env: [{ name: 'A', value: '1' }] })],
        containers: [app({ volumeMounts: [{ name: 'data', mountPath: '/data' }] })],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    );
    const before = structuredClone(input);
    mutatePod(input, options);
    assert.deepEqual(input, before);
  });

  it('shares no object with its input or its options', () => {
    const input = pod({ 'operator.1password.io/inject': 'app' }, { containers: [app()] });
    const out = mutated(mutatePod(input, options));
    const copy = byName(out.spec?.initContainers, 'copy-op-bin');
    assert.notEqual(copy.resources, options.copyContainer.resources);
    copy.resources!.limits!.memory = '1Gi';
    assert.equal(options.copyContainer.resources.limits?.memory, '64Mi');
    assert.notEqual(out.metadata?.annotations, input.metadata?.annotations);
  });
});

describe('mutatePod: re-invocation', () => {
  const inputs: [string, V1Pod][] = [
    ['one container', pod({ 'operator.1password.io/inject': 'app' }, { containers: [app()] })],
    [
      'init containers and init-first',
      pod(
        {
          'operator.1password.io/inject': 'migrate, app',
          'operator.1password.io/injector-init-first': 'true',
        },
        {
          initContainers: [app({ name: 'net' }), app({ name: 'migrate' })],
          containers: [app()],
        },
      ),
    ],
    [
      'a named init container after others',
      pod(
        { 'operator.1password.io/inject': 'migrate' },
        {
          initContainers: [app({ name: 'net' }), app({ name: 'migrate' }), app({ name: 'last' })],
          containers: [app()],
        },
      ),
    ],
  ];
  for (const [what, input] of inputs) {
    it(`leaves an injected pod unchanged (${what})`, () => {
      const once = mutated(mutatePod(input, options));
      assert.equal(mutatePod(once, options).kind, 'skip');
    });

    it(`gives the same pod when the status annotation was lost (${what})`, () => {
      const once = mutated(mutatePod(input, options));
      const stripped = structuredClone(once);
      delete stripped.metadata?.annotations?.['operator.1password.io/status'];
      assert.deepEqual(mutated(mutatePod(stripped, options)), once);
    });
  }
});

describe('mutatePod: init containers (fixes 1Password patching the wrong index)', () => {
  it('patches a named init container at its own position, not the container at its index', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'migrate' },
      {
        initContainers: [app({ name: 'net', command: ['/bin/net'] }), app({ name: 'migrate' })],
        containers: [app({ name: 'a0' }), app({ name: 'a1' })],
      },
    );
    const out = mutated(mutatePod(input, options));
    assert.deepEqual(
      out.spec?.initContainers?.map((container) => container.name),
      ['net', 'copy-op-bin', 'migrate'],
    );
    assert.deepEqual(byName(out.spec?.initContainers, 'migrate').command?.slice(0, 3), [
      '/op/bin/op',
      'run',
      '--',
    ]);
    assert.deepEqual(byName(out.spec?.initContainers, 'net').command, ['/bin/net']);
    assert.deepEqual(out.spec?.containers, input.spec?.containers, 'regular containers untouched');
  });

  it('appends copy-op-bin last when no init container is named', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app' },
      { initContainers: [app({ name: 'a' }), app({ name: 'b' })], containers: [app()] },
    );
    const out = mutated(mutatePod(input, options));
    assert.deepEqual(
      out.spec?.initContainers?.map((container) => container.name),
      ['a', 'b', 'copy-op-bin'],
    );
  });

  it('puts copy-op-bin first with injector-init-first "true"', () => {
    for (const value of ['true', 'TRUE', ' True ']) {
      const input = pod(
        {
          'operator.1password.io/inject': 'app',
          'operator.1password.io/injector-init-first': value,
        },
        { initContainers: [app({ name: 'a' }), app({ name: 'b' })], containers: [app()] },
      );
      const out = mutated(mutatePod(input, options));
      assert.deepEqual(
        out.spec?.initContainers?.map((container) => container.name),
        ['copy-op-bin', 'a', 'b'],
        value,
      );
    }
  });

  it('treats injector-init-first "false" as absent', () => {
    const input = pod(
      {
        'operator.1password.io/inject': 'app',
        'operator.1password.io/injector-init-first': 'false',
      },
      { initContainers: [app({ name: 'a' })], containers: [app()] },
    );
    const out = mutated(mutatePod(input, options));
    assert.deepEqual(
      out.spec?.initContainers?.map((container) => container.name),
      ['a', 'copy-op-bin'],
    );
  });

  it('denies any other injector-init-first value', () => {
    const input = pod(
      {
        'operator.1password.io/inject': 'app',
        'operator.1password.io/injector-init-first': 'yes',
      },
      { containers: [app()] },
    );
    assert.match(denied(mutatePod(input, options)), /injector-init-first="yes" must be "true"/);
  });

  it('injects native sidecars (init containers that keep running)', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'proxy' },
      {
        initContainers: [app({ name: 'proxy', restartPolicy: 'Always' })],
        containers: [app()],
      },
    );
    const out = mutated(mutatePod(input, options));
    assert.deepEqual(
      out.spec?.initContainers?.map((container) => container.name),
      ['copy-op-bin', 'proxy'],
    );
  });
});

describe('mutatePod: names (fixes untrimmed names)', () => {
  it('trims names, ignores empty entries and duplicates', () => {
    assert.deepEqual(parseContainerNames(' app , worker,,app, '), ['app', 'worker']);
    const input = pod(
      { 'operator.1password.io/inject': 'app, worker' },
      { containers: [app(), app({ name: 'worker' })] },
    );
    const result = mutatePod(input, options);
    assert.equal(result.kind, 'mutated');
    assert.deepEqual(result.injected, ['app', 'worker']);
  });

  it('denies a name matching no container, naming it and the containers there are', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app,wroker' },
      { initContainers: [app({ name: 'init' })], containers: [app(), app({ name: 'worker' })] },
    );
    const message = denied(mutatePod(input, options));
    assert.match(message, /names "wroker", but the pod has no such container/);
    assert.match(message, /"init", "app", "worker"/);
  });
});

describe('mutatePod: denials', () => {
  it('denies a listed container without command, naming it', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app' },
      { containers: [app({ command: undefined, args: ['serve'] })] },
    );
    assert.match(
      denied(mutatePod(input, options)),
      /container "app" has no command; op-kube needs the command to wrap it with "op run"/,
    );
  });

  it('treats an empty command as none', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app' },
      { containers: [app({ command: [] })] },
    );
    assert.match(denied(mutatePod(input, options)), /container "app" has no command/);
  });

  it('does not care about unlisted containers without command', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app' },
      { containers: [app(), app({ name: 'sidecar', command: undefined })] },
    );
    assert.equal(mutatePod(input, options).kind, 'mutated');
  });

  it('reports every problem at once', () => {
    const input = pod(
      {
        'operator.1password.io/inject': 'a,b,ghost',
        'operator.1password.io/version': 'not a tag',
      },
      { containers: [app({ name: 'a', command: undefined }), app({ name: 'b', command: [] })] },
    );
    const message = denied(mutatePod(input, options));
    for (const part of [/"not a tag" is not an image tag/, /"ghost"/, /"a" has no/, /"b" has no/]) {
      assert.match(message, part);
    }
  });

  it('denies a pod mounting something else at /op/bin', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app' },
      { containers: [app({ volumeMounts: [{ name: 'tools', mountPath: '/op/bin' }] })] },
    );
    assert.match(
      denied(mutatePod(input, options)),
      /container "app" already mounts volume "tools" at \/op\/bin\//,
    );
  });

  it('denies a pod whose op-bin volume is not an emptyDir', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app' },
      { containers: [app()], volumes: [{ name: 'op-bin', configMap: { name: 'x' } }] },
    );
    assert.match(denied(mutatePod(input, options)), /volume "op-bin" that is not an emptyDir/);
  });

  it('denies a pod without spec', () => {
    const input = pod({ 'operator.1password.io/inject': 'app' }, undefined);
    assert.match(denied(mutatePod(input, options)), /its containers: none/);
  });

  // Found by the fuzz suite: the copy added beside it made a duplicate name the apiserver refused.
  it('denies a regular container named copy-op-bin (the name of the init container it adds)', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app' },
      { containers: [app(), { name: 'copy-op-bin', image: 'tools:1' }] },
    );
    assert.match(
      denied(mutatePod(input, options)),
      /the container name "copy-op-bin" is reserved for the init container op-kube adds/,
    );
  });

  it('quotes at most 80 characters of a value in a denial', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'app', 'operator.1password.io/version': 'x y'.repeat(1e5) },
      { containers: [app()] },
    );
    const message = denied(mutatePod(input, options));
    assert.ok(message.length < 300, `${message.length} characters`);
    assert.match(message, /operator\.1password\.io\/version="(x y)+x?… is not an image tag/);
  });
});

describe('mutatePod: Connect credentials (fixes hand-written token env)', () => {
  const injectedApp = (container: V1Container, opts = options): V1Container =>
    byName(
      mutated(
        mutatePod(
          pod({ 'operator.1password.io/inject': 'app' }, { containers: [container] }),
          opts,
        ),
      ).spec?.containers,
      'app',
    );

  it('wires host and token from the configured Secret', () => {
    const container = injectedApp(app(), {
      ...options,
      tokenSecretName: 'connect-token',
      tokenSecretKey: 'jwt',
    });
    assert.deepEqual(container.env?.slice(0, 2), [
      { name: 'OP_CONNECT_HOST', value: 'http://onepassword-connect.op:8080' },
      {
        name: 'OP_CONNECT_TOKEN',
        valueFrom: { secretKeyRef: { name: 'connect-token', key: 'jwt' } },
      },
    ]);
  });

  for (const name of ['OP_CONNECT_HOST', 'OP_CONNECT_TOKEN', 'OP_SERVICE_ACCOUNT_TOKEN']) {
    it(`leaves a container setting ${name} its own credentials`, () => {
      const own: V1EnvVar = { name, value: 'mine' };
      const container = injectedApp(app({ env: [own] }));
      assert.deepEqual(container.env?.[0], own);
      assert.deepEqual(envNames(container), [
        name,
        'OP_INTEGRATION_NAME',
        'OP_INTEGRATION_ID',
        'OP_INTEGRATION_BUILDNUMBER',
      ]);
    });
  }

  it('leaves a container with envFrom alone (the Secret may carry them)', () => {
    const container = injectedApp(app({ envFrom: [{ secretRef: { name: 'op' } }] }));
    assert.deepEqual(envNames(container), [
      'OP_INTEGRATION_NAME',
      'OP_INTEGRATION_ID',
      'OP_INTEGRATION_BUILDNUMBER',
    ]);
  });

  it('wires nothing with injectToken "never"', () => {
    const container = injectedApp(app(), { ...options, injectToken: 'never' });
    assert.ok(!envNames(container).some((name) => name.startsWith('OP_CONNECT')));
  });

  it('wires nothing without a Connect host', () => {
    const container = injectedApp(app(), { ...options, connectHost: undefined });
    assert.ok(!envNames(container).some((name) => name.startsWith('OP_CONNECT')));
  });

  it('wires init containers too', () => {
    const input = pod(
      { 'operator.1password.io/inject': 'migrate' },
      { initContainers: [app({ name: 'migrate' })], containers: [app()] },
    );
    const migrate = byName(mutated(mutatePod(input, options)).spec?.initContainers, 'migrate');
    assert.ok(envNames(migrate).includes('OP_CONNECT_TOKEN'));
  });

  it('does not duplicate OP_INTEGRATION_* variables the container sets', () => {
    const own: V1EnvVar = { name: 'OP_INTEGRATION_NAME', value: 'mine' };
    const container = injectedApp(app({ env: [own] }));
    assert.equal(envNames(container).filter((name) => name === 'OP_INTEGRATION_NAME').length, 1);
    assert.deepEqual(container.env?.[0], own);
  });
});

describe('mutatePod: copy-op-bin (fixes missing securityContext and resources)', () => {
  it('takes its user and resources from the options', () => {
    const input = pod({ 'operator.1password.io/inject': 'app' }, { containers: [app()] });
    const resources = { requests: { memory: '128Mi' }, limits: { memory: '128Mi' } };
    const out = mutated(
      mutatePod(input, { ...options, copyContainer: { runAsUser: 1000, resources } }),
    );
    const copy = byName(out.spec?.initContainers, 'copy-op-bin');
    assert.equal(copy.securityContext?.runAsUser, 1000);
    assert.deepEqual(copy.resources, resources);
  });
});

describe('integrationBuildNumber (1Password format)', () => {
  const cases: [string, string][] = [
    ['1.0.2', '1000201'],
    ['1.12.3', '1120301'],
    ['0.1.0', '0010001'],
    ['v2.3.4', '2030401'],
    ['1.2.3-beta.1', '1020301'],
    ['dev', '0000001'],
  ];
  for (const [version, number] of cases) {
    it(`${version} → ${number}`, () => assert.equal(integrationBuildNumber(version), number));
  }
});

describe('mutatePod properties', () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,9}$/);
  const envVar = fc.record(
    {
      name: fc.oneof(
        fc.constantFrom(
          'OP_CONNECT_HOST',
          'OP_CONNECT_TOKEN',
          'OP_INTEGRATION_ID',
          'DB_PASSWORD',
          'PATH',
        ),
        fc.stringMatching(/^[A-Z_]{1,8}$/),
      ),
      value: fc.string({ maxLength: 20 }),
    },
    { noNullPrototype: true },
  );
  const container = fc.record(
    {
      name,
      image: fc.constant('app:1'),
      command: fc.array(fc.string({ maxLength: 10 }), { minLength: 1, maxLength: 3 }),
      env: fc.option(fc.array(envVar, { maxLength: 5 }), { nil: undefined }),
    },
    { noNullPrototype: true },
  );
  const podArbitrary = fc
    .record({
      init: fc.uniqueArray(container, { maxLength: 3, selector: (c) => c.name }),
      main: fc.uniqueArray(container, { minLength: 1, maxLength: 3, selector: (c) => c.name }),
      initFirst: fc.boolean(),
      pick: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    })
    .filter(({ init, main }) => !init.some((c) => main.some((m) => m.name === c.name)))
    .map(({ init, main, initFirst, pick }) => {
      const listed = [...init, ...main].filter((_, index) => pick[index]).map((c) => c.name);
      return pod(
        {
          'operator.1password.io/inject': [...listed, main[0]!.name].join(' , '),
          ...(initFirst ? { 'operator.1password.io/injector-init-first': 'true' } : {}),
        },
        { ...(init.length > 0 ? { initContainers: init } : {}), containers: main },
      );
    });

  it('is idempotent, and does not depend on the status annotation to be', () => {
    fc.assert(
      fc.property(podArbitrary, (input) => {
        const once = mutated(mutatePod(input, options));
        assert.equal(mutatePod(once, options).kind, 'skip');
        const stripped = structuredClone(once);
        delete stripped.metadata?.annotations?.['operator.1password.io/status'];
        assert.deepEqual(mutated(mutatePod(stripped, options)), once);
      }),
    );
  });

  it('runs copy-op-bin before every injected init container and keeps the others in order', () => {
    fc.assert(
      fc.property(podArbitrary, (input) => {
        const result = mutatePod(input, options);
        assert.equal(result.kind, 'mutated');
        const names = result.pod.spec?.initContainers?.map((c) => c.name) ?? [];
        const copyAt = names.indexOf('copy-op-bin');
        for (const injected of result.injected) {
          const at = names.indexOf(injected);
          if (at !== -1) assert.ok(at > copyAt, `${injected} runs before copy-op-bin`);
        }
        assert.deepEqual(
          names.filter((n) => n !== 'copy-op-bin'),
          (input.spec?.initContainers ?? []).map((c) => c.name),
        );
      }),
    );
  });

  it('never duplicates an env name it adds, and keeps every existing variable first', () => {
    fc.assert(
      fc.property(podArbitrary, (input) => {
        const out = mutated(mutatePod(input, options));
        const before = [...(input.spec?.initContainers ?? []), ...(input.spec?.containers ?? [])];
        const after = [...(out.spec?.initContainers ?? []), ...(out.spec?.containers ?? [])];
        for (const original of before) {
          const container = byName(after, original.name);
          const existing = original.env ?? [];
          assert.deepEqual(container.env?.slice(0, existing.length) ?? [], existing);
          const added = envNames(container).slice(existing.length);
          assert.equal(new Set(added).size, added.length);
          for (const name of added) assert.ok(!existing.some((v) => v.name === name));
        }
      }),
    );
  });
});
