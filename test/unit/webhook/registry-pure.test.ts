// The pure parts of reading an image's ENTRYPOINT and CMD: references, SSRF classes, media types, platforms, challenges, the keyring, the cache, Kubernetes' command/args rules, the flags.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ConfigError } from '../../../src/cli/errors.ts';
import { parseFlags } from '../../../src/cli/flags.ts';
import { parseWebhookConfig, webhookFlags } from '../../../src/webhook/config.ts';
import {
  defaultInjectionOptions,
  mutatePod,
  type ResolvedImage,
} from '../../../src/webhook/mutate.ts';
import { restrictedAddress } from '../../../src/webhook/registry/address.ts';
import {
  DockerKeyring,
  addPullSecret,
  parseChallenges,
} from '../../../src/webhook/registry/auth.ts';
import { BoundedCache } from '../../../src/webhook/registry/cache.ts';
import { ImageResolutionError } from '../../../src/webhook/registry/errors.ts';
import { imagesToResolve } from '../../../src/webhook/registry/entrypoints.ts';
import {
  MEDIA_TYPES,
  choosePlatform,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  type ManifestDocument,
} from '../../../src/webhook/registry/manifest.ts';
import { apiHost, parseImageReference } from '../../../src/webhook/registry/reference.ts';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;
const D3 = `sha256:${'c'.repeat(64)}`;

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ImageResolutionError, String(error));
    return error.reason;
  }
  assert.fail('did not throw');
}

describe('image references (distribution normalisation)', () => {
  it('fills in Docker Hub, library/ and latest', () => {
    assert.deepEqual(parseImageReference('nginx'), {
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: 'latest',
      digest: undefined,
    });
    assert.deepEqual(parseImageReference('bitnami/redis:7'), {
      registry: 'docker.io',
      repository: 'bitnami/redis',
      tag: '7',
      digest: undefined,
    });
    assert.equal(apiHost(parseImageReference('nginx')), 'registry-1.docker.io');
    assert.equal(parseImageReference('index.docker.io/library/nginx').registry, 'docker.io');
  });

  it('takes a first component with a dot, a port or localhost as the registry', () => {
    assert.equal(parseImageReference('ghcr.io/a/b:1').registry, 'ghcr.io');
    assert.equal(parseImageReference('localhost/a').registry, 'localhost');
    const local = parseImageReference('127.0.0.1:5000/team/app:v2');
    assert.equal(local.registry, '127.0.0.1:5000');
    assert.equal(local.repository, 'team/app');
    assert.equal(local.tag, 'v2');
  });

  it('keeps a digest (which wins over a tag given with it)', () => {
    const pinned = parseImageReference(`ghcr.io/a/b:1@${D1}`);
    assert.equal(pinned.digest, D1);
    assert.equal(parseImageReference(`ghcr.io/a/b@${D1}`).tag, undefined);
  });

  it('refuses what no runtime pulls', () => {
    for (const bad of [
      '',
      ' nginx',
      'UPPER/case',
      'a/b:',
      'a@sha256:12',
      'a/b:t@md5:00',
      'a//b',
      '-a/b',
    ]) {
      assert.equal(
        reason(() => parseImageReference(bad)),
        'InvalidReference',
        bad,
      );
    }
  });
});

describe('SSRF address classes', () => {
  it('refuses loopback, link-local, metadata, unspecified and multicast addresses', () => {
    const cases: [string, string | undefined][] = [
      ['127.0.0.1', 'loopback'],
      ['127.8.9.10', 'loopback'],
      ['::1', 'loopback'],
      ['[::1]', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['169.254.169.254', 'metadata'],
      ['::ffff:169.254.169.254', 'metadata'],
      ['fd00:ec2::254', 'metadata'],
      ['100.100.100.200', 'metadata'],
      ['169.254.170.2', 'metadata'],
      ['169.254.1.1', 'link-local'],
      ['fe80::1', 'link-local'],
      ['fe80::1%eth0', 'link-local'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['ff02::1', 'multicast'],
      // In-cluster registries live on private addresses: allowed.
      ['10.0.0.5', undefined],
      ['192.168.1.1', undefined],
      ['172.16.0.1', undefined],
      ['fd12:3456::1', undefined],
      ['8.8.8.8', undefined],
      ['2001:db8::1', undefined],
      ['registry.example', undefined],
    ];
    for (const [address, expected] of cases) {
      assert.equal(restrictedAddress(address), expected, address);
    }
  });

  it('classifies every IPv4-mapped IPv6 address as its IPv4 address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (v4) => {
        assert.equal(restrictedAddress(`::ffff:${v4}`), restrictedAddress(v4));
      }),
    );
  });
});

describe('manifests and indexes (OCI and Docker media types)', () => {
  const bytes = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value));
  const manifest = (mediaType: string, configType: string = MEDIA_TYPES.ociConfig): unknown => ({
    schemaVersion: 2,
    mediaType,
    config: { mediaType: configType, digest: D1, size: 10 },
    layers: [],
  });

  it('tells manifests from indexes by mediaType, Content-Type, then shape', () => {
    for (const type of [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]) {
      assert.equal(parseManifest(bytes(manifest(type)), undefined).kind, 'manifest');
    }
    for (const type of [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]) {
      assert.equal(
        parseManifest(bytes({ schemaVersion: 2, mediaType: type, manifests: [] }), undefined).kind,
        'index',
      );
    }
    // No mediaType in the document (allowed by OCI): the header says.
    assert.equal(
      parseManifest(
        bytes({ schemaVersion: 2, manifests: [] }),
        `${MEDIA_TYPES.ociIndex}; charset=utf-8`,
      ).kind,
      'index',
    );
    assert.equal(
      parseManifest(bytes({ config: { digest: D1, size: 1 } }), undefined).kind,
      'manifest',
    );
  });

  it('refuses schema 1, artifacts, unknown types and malformed JSON', () => {
    assert.equal(
      reason(() =>
        parseManifest(
          bytes({ schemaVersion: 1 }),
          'application/vnd.docker.distribution.manifest.v1+prettyjws',
        ),
      ),
      'Unsupported',
    );
    assert.equal(
      reason(() =>
        parseManifest(
          bytes(manifest(MEDIA_TYPES.ociManifest, 'application/vnd.cncf.helm.config.v1+json')),
          undefined,
        ),
      ),
      'Unsupported',
    );
    assert.equal(
      reason(() => parseManifest(bytes({ hello: 1 }), 'text/plain')),
      'Unsupported',
    );
    assert.equal(
      reason(() => parseManifest(Buffer.from('{"config": '), undefined)),
      'Malformed',
    );
    assert.equal(
      reason(() => parseManifest(bytes([1, 2]), undefined)),
      'Malformed',
    );
    assert.equal(
      reason(() => parseManifest(bytes({ config: { digest: 'sha256:zz', size: 1 } }), undefined)),
      'Malformed',
    );
    assert.equal(
      reason(() => parseManifest(bytes({ config: { digest: D1, size: -1 } }), undefined)),
      'Malformed',
    );
  });

  it('reads Entrypoint and Cmd (absent or null: empty) and refuses other types', () => {
    assert.deepEqual(parseImageConfig(bytes({ config: { Entrypoint: ['/a'], Cmd: ['b', 'c'] } })), {
      entrypoint: ['/a'],
      cmd: ['b', 'c'],
    });
    assert.deepEqual(parseImageConfig(bytes({ config: { Entrypoint: null } })), {
      entrypoint: [],
      cmd: [],
    });
    assert.deepEqual(parseImageConfig(bytes({})), { entrypoint: [], cmd: [] });
    assert.equal(
      reason(() => parseImageConfig(bytes({ config: { Cmd: 'sh -c x' } }))),
      'Malformed',
    );
    assert.equal(
      reason(() => parseImageConfig(bytes({ config: { Entrypoint: [1] } }))),
      'Malformed',
    );
    assert.equal(
      reason(() => parseImageConfig(bytes({ config: [] }))),
      'Malformed',
    );
    assert.equal(
      reason(() => parseImageConfig(Buffer.from('nope'))),
      'Malformed',
    );
  });
});

describe('platform choice', () => {
  const index: Extract<ManifestDocument, { kind: 'index' }> = {
    kind: 'index',
    manifests: [
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: D1,
        size: 1,
        platform: { os: 'linux', architecture: 'amd64' },
      },
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: D2,
        size: 1,
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: D3,
        size: 1,
        platform: { os: 'linux', architecture: 'arm', variant: 'v6' },
      },
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: D3,
        size: 1,
        platform: { os: 'unknown', architecture: 'unknown' },
      },
    ],
  };
  const pick = (text: string): string => {
    const platform = parsePlatform(text);
    assert.ok(platform, text);
    return choosePlatform(index, platform).digest;
  };

  it('matches os and architecture, with the default variants', () => {
    assert.equal(pick('linux/amd64'), D1);
    assert.equal(pick('linux/arm64'), D2, 'arm64 without a variant is v8');
    assert.equal(pick('linux/arm64/v8'), D2);
    assert.equal(pick('linux/arm/v6'), D3);
  });

  it('names what the image has when nothing fits (never an attestation)', () => {
    const platform = parsePlatform('linux/arm');
    assert.ok(platform);
    assert.throws(
      () => choosePlatform(index, platform),
      (error: unknown) =>
        error instanceof ImageResolutionError &&
        error.reason === 'NoPlatform' &&
        /no linux\/arm variant \(it has linux\/amd64, linux\/arm64\/v8, linux\/arm\/v6\)/.test(
          error.message,
        ),
    );
    assert.equal(
      reason(() => choosePlatform(index, { os: 'windows', architecture: 'amd64' })),
      'NoPlatform',
    );
  });

  it('parses os/arch[/variant] only', () => {
    assert.deepEqual(parsePlatform('Linux/ARM64/v8'), {
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
    });
    for (const bad of ['', 'linux', 'linux/', 'a/b/c/d', 'linux/am d64'])
      assert.equal(parsePlatform(bad), undefined, bad);
  });
});

describe('WWW-Authenticate challenges', () => {
  it('reads Bearer realm, service and scope', () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/nginx:pull',
          },
        },
      ],
    );
  });

  it('reads several challenges, unquoted values, escapes and odd spacing', () => {
    assert.deepEqual(
      parseChallenges('Basic realm="a \\"b\\"", BEARER  realm = https://t/x , error=invalid_token'),
      [
        { scheme: 'basic', params: { realm: 'a "b"' } },
        { scheme: 'bearer', params: { realm: 'https://t/x', error: 'invalid_token' } },
      ],
    );
    assert.deepEqual(parseChallenges('Basic'), [{ scheme: 'basic', params: {} }]);
    assert.deepEqual(
      parseChallenges('Negotiate abc==, Basic realm="r"').map((c) => c.scheme),
      ['negotiate', 'basic'],
    );
  });

  it('never throws or loops on any header', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (header) => {
        assert.ok(Array.isArray(parseChallenges(header)));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("Kubernetes' pull Secret keyring", () => {
  const secret = (
    type: string,
    key: string,
    document: unknown,
  ): { type: string; data: Record<string, string> } => ({
    type,
    data: { [key]: Buffer.from(JSON.stringify(document)).toString('base64') },
  });
  const auth = (user: string, password: string): string =>
    Buffer.from(`${user}:${password}`).toString('base64');

  it('reads dockerconfigjson and dockercfg Secrets of their type only', () => {
    const keyring = new DockerKeyring();
    addPullSecret(
      keyring,
      secret('kubernetes.io/dockerconfigjson', '.dockerconfigjson', {
        auths: { 'registry.example:5000': { auth: auth('u1', 'p:1') } },
      }),
    );
    addPullSecret(
      keyring,
      secret('kubernetes.io/dockercfg', '.dockercfg', {
        'https://other.example/v1/': { username: 'u2', password: 'p2' },
      }),
    );
    // Wrong type for the key: the kubelet ignores it, and so does this.
    addPullSecret(
      keyring,
      secret('Opaque', '.dockerconfigjson', { auths: { 'x.example': { auth: auth('u3', 'p3') } } }),
    );
    addPullSecret(keyring, {
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': 'not base64 json' },
    });
    assert.equal(keyring.size, 2);
    assert.deepEqual(keyring.lookup('registry.example:5000', 'team/app'), {
      username: 'u1',
      password: 'p:1',
    });
    assert.equal(keyring.lookup('registry.example', 'team/app'), undefined, 'the port must match');
    assert.deepEqual(keyring.lookup('other.example', 'a'), { username: 'u2', password: 'p2' });
    assert.equal(keyring.lookup('x.example', 'a'), undefined);
  });

  it('matches globs per label, path prefixes (most specific first) and Docker Hub keys', () => {
    const keyring = new DockerKeyring();
    keyring.add('*.example.com', { username: 'glob', password: '1' });
    keyring.add('reg.example.com/team', { username: 'team', password: '2' });
    keyring.add('https://index.docker.io/v1/', { username: 'hub', password: '3' });
    assert.equal(keyring.lookup('reg.example.com', 'team/app')?.username, 'team');
    assert.equal(keyring.lookup('reg.example.com', 'teamx/app')?.username, 'glob');
    assert.equal(keyring.lookup('a.b.example.com', 'x'), undefined, 'a glob is one label');
    assert.equal(keyring.lookup('docker.io', 'library/nginx')?.username, 'hub');
  });
});

describe('the bounded cache', () => {
  it('drops the least recently used entry past its size, and entries past their time', () => {
    let now = 0;
    const cache = new BoundedCache<number>(2, () => now);
    cache.set('a', 1, 1_000);
    cache.set('b', 2, 1_000);
    assert.equal(cache.get('a'), 1); // a is now the most recent
    cache.set('c', 3, 1_000);
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), 1);
    assert.equal(cache.size, 2);
    now = 1_000;
    assert.equal(cache.get('a'), undefined);
    const none = new BoundedCache<number>(0);
    none.set('a', 1, 1_000);
    assert.equal(none.size, 0);
  });

  it('never holds more than its size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.string({ maxLength: 3 }), { maxLength: 200 }),
        (size, keys) => {
          const cache = new BoundedCache<string>(size);
          for (const key of keys) cache.set(key, key, 60_000);
          assert.ok(cache.size <= size);
        },
      ),
    );
  });
});

describe("Kubernetes' command and args rules with the image's ENTRYPOINT and CMD", () => {
  const options = { ...defaultInjectionOptions('1.0.0'), connectHost: 'http://connect:8080' };
  const pod = (container: Partial<V1Container>): V1Pod => ({
    metadata: { name: 'p', annotations: { 'operator.1password.io/inject': 'app' } },
    spec: { containers: [{ name: 'app', image: 'reg.example/app:1', ...container }] },
  });
  const resolved = (entrypoint: string[], cmd: string[]): Map<string, ResolvedImage> =>
    new Map([['app', { kind: 'resolved', start: { entrypoint, cmd } }]]);
  const started = (
    container: Partial<V1Container>,
    images: Map<string, ResolvedImage>,
  ): { command?: string[]; args?: string[] } => {
    const result = mutatePod(pod(container), options, images);
    assert.equal(result.kind, 'mutated', JSON.stringify(result));
    const app = result.kind === 'mutated' ? result.pod.spec?.containers[0] : undefined;
    return {
      ...(app?.command ? { command: app.command } : {}),
      ...(app?.args ? { args: app.args } : {}),
    };
  };
  const OP = ['/op/bin/op', 'run', '--'];

  it('neither command nor args: ENTRYPOINT, then CMD as args', () => {
    assert.deepEqual(started({}, resolved(['/bin/app'], ['serve', '-v'])), {
      command: [...OP, '/bin/app'],
      args: ['serve', '-v'],
    });
  });

  it("args only: ENTRYPOINT with the pod's args (CMD dropped)", () => {
    assert.deepEqual(started({ args: ['migrate'] }, resolved(['/bin/app'], ['serve'])), {
      command: [...OP, '/bin/app'],
      args: ['migrate'],
    });
  });

  it('no ENTRYPOINT: the CMD (or the args) is what runs', () => {
    assert.deepEqual(started({}, resolved([], ['/bin/sh', '-c', 'env'])), {
      command: OP,
      args: ['/bin/sh', '-c', 'env'],
    });
    assert.deepEqual(started({ args: ['/bin/date'] }, resolved([], ['/bin/sh'])), {
      command: OP,
      args: ['/bin/date'],
    });
  });

  it('an empty args list counts as unset, as the runtime reads it', () => {
    assert.deepEqual(started({ args: [] }, resolved(['/e'], ['c'])), {
      command: [...OP, '/e'],
      args: ['c'],
    });
  });

  it('a command given is used as before, the image not needed', () => {
    assert.deepEqual(started({ command: ['/mine'], args: ['x'] }, new Map()), {
      command: [...OP, '/mine'],
      args: ['x'],
    });
  });

  it('denies, saying why, when the image has nothing to run or could not be read', () => {
    const nothing = mutatePod(pod({}), options, resolved([], []));
    assert.equal(nothing.kind, 'deny');
    assert.match(
      nothing.kind === 'deny' ? nothing.message : '',
      /no ENTRYPOINT or CMD: nothing to run/,
    );
    const failed = mutatePod(
      pod({}),
      options,
      new Map([['app', { kind: 'failed', why: 'image "x": the registry has no such manifest' }]]),
    );
    assert.equal(failed.kind, 'deny');
    assert.match(
      failed.kind === 'deny' ? failed.message : '',
      /container "app" has no command and its image's ENTRYPOINT could not be read: image "x": the registry has no such manifest/,
    );
  });

  it('without resolution, a container without a command is denied exactly as before', () => {
    const result = mutatePod(pod({}), options);
    assert.equal(result.kind, 'deny');
    assert.match(
      result.kind === 'deny' ? result.message : '',
      /has no command; op-kube needs the command to wrap it/,
    );
  });

  it('is idempotent with resolved images', () => {
    const once = mutatePod(pod({}), options, resolved(['/e'], ['c']));
    assert.equal(once.kind, 'mutated');
    if (once.kind !== 'mutated') return;
    const { 'operator.1password.io/status': _status, ...annotations } =
      once.pod.metadata?.annotations ?? {};
    const twice = mutatePod(
      { ...once.pod, metadata: { ...once.pod.metadata, annotations } },
      options,
      new Map(),
    );
    assert.equal(twice.kind, 'mutated');
    assert.deepEqual(twice.kind === 'mutated' ? twice.pod.spec : undefined, once.pod.spec);
  });
});

describe('which images a review asks for', () => {
  const review = (
    spec: unknown,
    annotations: Record<string, string> = { 'operator.1password.io/inject': 'app,init' },
  ): unknown => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'ns',
      object: { metadata: { annotations }, spec },
    },
  });

  it('lists listed containers without a command, with pull Secrets, ServiceAccount and nodeSelector', () => {
    assert.deepEqual(
      imagesToResolve(
        review({
          serviceAccountName: 'builder',
          imagePullSecrets: [{ name: 'pull' }, {}, { name: 7 }],
          nodeSelector: { 'kubernetes.io/arch': 'arm64' },
          initContainers: [{ name: 'init', image: 'i:1' }],
          containers: [
            { name: 'app', image: 'a:1', command: [] },
            { name: 'other', image: 'o:1' },
            { name: 'with', image: 'w:1', command: ['/w'] },
          ],
        }),
      ),
      {
        namespace: 'ns',
        serviceAccount: 'builder',
        pullSecrets: ['pull'],
        os: undefined,
        architecture: 'arm64',
        containers: [
          { name: 'init', image: 'i:1' },
          { name: 'app', image: 'a:1' },
        ],
      },
    );
  });

  it('never throws on any body', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (spec, containers) => {
        imagesToResolve(spec);
        imagesToResolve(review(spec));
        imagesToResolve(review({ containers }));
        imagesToResolve(
          review({
            containers: [containers],
            imagePullSecrets: containers,
            nodeSelector: containers,
          }),
        );
      }),
      { numRuns: 2_000 },
    );
  });

  it('asks for nothing when nothing needs it', () => {
    assert.equal(
      imagesToResolve(review({ containers: [{ name: 'app', image: 'a', command: ['/a'] }] })),
      undefined,
    );
    assert.equal(
      imagesToResolve(review({ containers: [{ name: 'app', image: 'a' }] }, {})),
      undefined,
    );
    assert.equal(imagesToResolve({ not: 'a review' }), undefined);
    assert.equal(
      imagesToResolve(review({ containers: [{ name: 'app', image: 'a', command: 'x' }] })),
      undefined,
      'unreadable: denied by the pure part',
    );
  });
});

describe('--resolve-entrypoints flags', () => {
  const FILES = ['--tls-mode=files', '--tls-cert-file=/c', '--tls-key-file=/k'];
  const config = (args: string[]) =>
    parseWebhookConfig(parseFlags(Object.values(webhookFlags), [...FILES, ...args]), {}, '1.0.0');
  const refused = (args: string[], flag: string): void => {
    assert.throws(
      () => config(args),
      (error: unknown) => error instanceof ConfigError && error.setting === flag,
      args.join(' '),
    );
  };

  it('is off by default, and then no registry flag is accepted', () => {
    assert.equal(config([]).entrypoints, undefined);
    refused(['--registry-timeout=1s'], '--registry-timeout');
    refused(['--registry-pull-secrets'], '--registry-pull-secrets');
    refused(['--registry-ca-file=/ca.crt'], '--registry-ca-file');
  });

  it('has safe defaults when on', () => {
    const on = config(['--resolve-entrypoints']).entrypoints;
    assert.ok(on);
    assert.equal(on.timeoutMs, 2_000);
    assert.deepEqual(on.platform, { os: 'linux', architecture: 'amd64' });
    assert.equal(on.onFailure, 'deny');
    assert.equal(on.pullSecrets, false);
    assert.equal(on.insecure.size, 0);
    assert.equal(on.allowInternal.size, 0);
  });

  it('reads lists and refuses bad values', () => {
    const on = config([
      '--resolve-entrypoints',
      '--registry-insecure=127.0.0.1:5000, reg.local',
      '--registry-allow-internal=127.0.0.1:5000',
      '--registry-failure=admit',
      '--registry-platform=linux/arm64',
    ]).entrypoints;
    assert.deepEqual([...(on?.insecure ?? [])], ['127.0.0.1:5000', 'reg.local']);
    assert.equal(on?.onFailure, 'admit');
    assert.equal(
      config(['--resolve-entrypoints', '--registry-ca-file=/ca.crt']).entrypoints?.caFile,
      '/ca.crt',
    );
    refused(['--resolve-entrypoints', '--registry-timeout=30s'], '--registry-timeout');
    refused(['--resolve-entrypoints', '--registry-timeout=10ms'], '--registry-timeout');
    refused(['--resolve-entrypoints', '--registry-platform=amd64'], '--registry-platform');
    refused(['--resolve-entrypoints', '--registry-failure=ignore'], '--registry-failure');
    refused(['--resolve-entrypoints', '--registry-insecure=http://x'], '--registry-insecure');
    refused(['--resolve-entrypoints', '--registry-cache-size=-1'], '--registry-cache-size');
  });
});
