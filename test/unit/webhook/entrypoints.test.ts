// The admission edge of --resolve-entrypoints: pull Secrets chosen as Kubernetes does, the deadline held even against a read that ignores it, and --registry-failure=admit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { parseAdmissionReview, reviewReply } from '../../../src/webhook/admission.ts';
import { defaultInjectionOptions } from '../../../src/webhook/mutate.ts';
import { RegistryClient } from '../../../src/webhook/registry/client.ts';
import {
  EntrypointResolution,
  type PullSecretReader,
} from '../../../src/webhook/registry/entrypoints.ts';
import type { ImageReference } from '../../../src/webhook/registry/reference.ts';
import { ImageResolver } from '../../../src/webhook/registry/resolver.ts';
import type { RegistryCredential } from '../../../src/webhook/registry/auth.ts';
import { ImageResolutionError } from '../../../src/webhook/registry/errors.ts';

const options = { ...defaultInjectionOptions('1.0.0'), connectHost: 'http://connect:8080' };

function review(spec: Record<string, unknown>): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'team',
      object: {
        metadata: { name: 'p', annotations: { 'operator.1password.io/inject': 'app' } },
        spec: { containers: [{ name: 'app', image: 'reg.example/app:1' }], ...spec },
      },
    },
  };
}

/** A resolver whose registry answers from a table, recording the credential it was given. */
class FakeResolver extends ImageResolver {
  readonly seen: (RegistryCredential | undefined)[] = [];
  readonly #stall: boolean;

  constructor(stall = false) {
    super(new RegistryClient({ insecure: new Set(), allowInternal: new Set(), userAgent: 't' }), {
      cacheSize: 0,
      tagTtlMs: 0,
      digestTtlMs: 0,
    });
    this.#stall = stall;
  }

  override async resolve(_reference: ImageReference, credential: RegistryCredential | undefined) {
    this.seen.push(credential);
    if (this.#stall) await new Promise(() => undefined);
    if (credential?.username.startsWith('bad')) {
      throw new ImageResolutionError('Unauthorized', 'the registry refused the credentials');
    }
    return { command: { entrypoint: ['/e'], cmd: ['c'] }, source: 'registry' as const };
  }
}

function pullSecret(user: string): { type: string; data: Record<string, string> } {
  const auth = Buffer.from(`${user}:pw`).toString('base64');
  return {
    type: 'kubernetes.io/dockerconfigjson',
    data: {
      '.dockerconfigjson': Buffer.from(
        JSON.stringify({ auths: { 'reg.example': { auth } } }),
      ).toString('base64'),
    },
  };
}

const reader = (stall = false): PullSecretReader & { asked: string[] } => {
  const asked: string[] = [];
  return {
    asked,
    async serviceAccountPullSecrets(namespace, name) {
      asked.push(`sa:${namespace}/${name}`);
      if (stall) await new Promise(() => undefined);
      return name === 'builder' ? ['from-account'] : [];
    },
    secret(namespace, name) {
      asked.push(`secret:${namespace}/${name}`);
      return Promise.resolve(name === 'missing' ? undefined : pullSecret(name));
    },
  };
};

const settings = {
  timeoutMs: 200,
  platform: { os: 'linux', architecture: 'amd64' },
  onFailure: 'deny' as const,
};
const logger = pino({ level: 'silent' });

describe('the entrypoint resolution edge', () => {
  it("uses the pod's imagePullSecrets, and only without them its ServiceAccount's", async () => {
    const resolver = new FakeResolver();
    const secrets = reader();
    const edge = new EntrypointResolution({ resolver, secrets, settings, logger });
    await edge.resolve(
      review({
        serviceAccountName: 'builder',
        imagePullSecrets: [{ name: 'missing' }, { name: 'own' }],
      }),
    );
    assert.deepEqual(secrets.asked, ['secret:team/missing', 'secret:team/own']);
    assert.equal(resolver.seen.at(-1)?.username, 'own');
    secrets.asked.length = 0;
    await edge.resolve(review({ serviceAccountName: 'builder' }));
    assert.deepEqual(secrets.asked, ['sa:team/builder', 'secret:team/from-account']);
    assert.equal(resolver.seen.at(-1)?.username, 'from-account');
    // Without a reader (--registry-pull-secrets off): anonymous.
    const anonymous = new FakeResolver();
    await new EntrypointResolution({ resolver: anonymous, settings, logger }).resolve(
      review({ imagePullSecrets: [{ name: 'own' }] }),
    );
    assert.deepEqual(anonymous.seen, [undefined]);
  });

  it('tries each matching pull Secret in turn while the registry refuses, as the kubelet does', async () => {
    const resolver = new FakeResolver();
    const edge = new EntrypointResolution({ resolver, secrets: reader(), settings, logger });
    const result = await edge.resolve(
      review({ imagePullSecrets: [{ name: 'bad-1' }, { name: 'good' }, { name: 'bad-2' }] }),
    );
    assert.deepEqual(
      resolver.seen.map((credential) => credential?.username),
      ['bad-1', 'good'],
    );
    assert.equal(result?.images.get('app')?.kind, 'resolved');
    const refused = new FakeResolver();
    const all = await new EntrypointResolution({
      resolver: refused,
      secrets: reader(),
      settings,
      logger,
    }).resolve(review({ imagePullSecrets: [{ name: 'bad-1' }, { name: 'bad-2' }] }));
    assert.deepEqual(
      refused.seen.map((credential) => credential?.username),
      ['bad-1', 'bad-2'],
    );
    assert.equal(all?.images.get('app')?.kind, 'failed');
  });

  it('holds the deadline even when a read ignores the signal', async () => {
    for (const [resolver, secrets] of [
      [new FakeResolver(true), reader()],
      [new FakeResolver(), reader(true)],
    ] as const) {
      const started = performance.now();
      const result = await new EntrypointResolution({
        resolver,
        secrets,
        settings,
        logger,
      }).resolve(review({}));
      const ms = performance.now() - started;
      assert.ok(ms < 600, `${ms} ms`);
      assert.deepEqual(
        [...(result?.images ?? [])],
        [
          [
            'app',
            { kind: 'failed', why: 'the registry did not answer within 0.2s (--registry-timeout)' },
          ],
        ],
      );
    }
  });

  it('denies by default, or admits unmutated with a warning (--registry-failure=admit)', async () => {
    const body = review({});
    const resolver = new FakeResolver(true);
    const denied = await new EntrypointResolution({ resolver, settings, logger }).resolve(body);
    const deny = reviewReply(body, options, denied);
    assert.equal(deny.status, 200);
    assert.equal(deny.status === 200 && deny.body.response.allowed, false);
    assert.match(
      deny.status === 200 ? (deny.body.response.status?.message ?? '') : '',
      /container "app" has no command and its image's ENTRYPOINT could not be read: the registry did not answer within 0\.2s/,
    );
    const admitted = await new EntrypointResolution({
      resolver,
      settings: { ...settings, onFailure: 'admit' },
      logger,
    }).resolve(body);
    const admit = reviewReply(body, options, admitted);
    assert.ok(admit.status === 200);
    assert.equal(admit.body.response.allowed, true);
    assert.equal(admit.body.response.patch, undefined);
    assert.match(
      admit.body.response.warnings?.[0] ?? '',
      /^op-kube admitted the pod without injecting secrets: container "app": /,
    );
    // Resolved: mutated as usual.
    const ok = await new EntrypointResolution({
      resolver: new FakeResolver(),
      settings,
      logger,
    }).resolve(body);
    const mutated = reviewReply(body, options, ok);
    assert.ok(mutated.status === 200 && mutated.body.response.patch !== undefined);
    assert.ok(parseAdmissionReview(body));
  });

  it('asks nothing for pods that do not need it', async () => {
    const resolver = new FakeResolver();
    const edge = new EntrypointResolution({ resolver, secrets: reader(), settings, logger });
    assert.equal(
      await edge.resolve(review({ containers: [{ name: 'app', image: 'a', command: ['/a'] }] })),
      undefined,
    );
    assert.equal(resolver.seen.length, 0);
  });
});
