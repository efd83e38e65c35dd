// fast-check arbitraries for the webhook: realistic pods with the outcome the injector owes each, AdmissionReviews around them, and malformed edits of those reviews.
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type Expected = 'inject' | 'skip' | 'deny';

export interface GeneratedPod {
  readonly pod: { [key: string]: Json };
  /** What the injector must answer for it in a Pod CREATE, worked out from how it was built. */
  readonly expected: Expected;
  /** Every env value in it, each unique: none may appear in an answer. */
  readonly envValues: readonly string[];
}

const INJECT = 'operator.1password.io/inject';
const STATUS = 'operator.1password.io/status';
const VERSION = 'operator.1password.io/version';
const INIT_FIRST = 'operator.1password.io/injector-init-first';

const NAMES = ['app', 'worker', 'sidecar', 'proxy', 'migrate', 'wait-for-db', 'init-config'];
const VOLUMES = ['data', 'config', 'cache', 'op-bin'] as const;
const MOUNT_PATHS: Record<(typeof VOLUMES)[number], readonly string[]> = {
  data: ['/data', '/var/lib/data/'],
  config: ['/etc/config'],
  cache: ['/cache', '/tmp/cache'],
  'op-bin': ['/op/bin/', '/op/bin', '/opt/op'],
};

interface Choice<T> {
  readonly value: T;
  readonly valid: boolean;
}

/** Mostly valid: an invalid choice denies the whole pod, and denials are not all there is to test. */
function mostly<T>(valid: readonly T[], invalid: readonly T[]): fc.Arbitrary<Choice<T>> {
  return fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom(...valid).map((value) => ({ value, valid: true })) },
    { weight: 1, arbitrary: fc.constantFrom(...invalid).map((value) => ({ value, valid: false })) },
  );
}

const version = mostly<string | undefined>(
  [undefined, '2', ' 2.30.0 ', '', `2.31.1@sha256:${'ab'.repeat(32)}`],
  ['latest; rm -rf /', '2 3'],
);

const initFirst = mostly<string | undefined>([undefined, 'true', ' False ', ''], ['yes']);

// A DNS label, valid as a label key or value and as a namespace.
const word = fc.stringMatching(/^[a-z]([a-z0-9-]{0,9}[a-z0-9])?$/);
const text = fc.string({ maxLength: 24, unit: 'binary' });

const envName = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Z][A-Z0-9_]{0,12}$/) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('OP_CONNECT_HOST', 'OP_CONNECT_TOKEN', 'OP_INTEGRATION_ID'),
  },
);

interface ContainerPlan {
  readonly command: string[] | undefined;
  readonly args: string[] | undefined;
  readonly env: { readonly name: string; readonly secret: boolean }[];
  readonly envFrom: boolean;
  readonly mounts: (typeof VOLUMES)[number][];
  readonly mountPathPick: number;
  /** Mounts the first of its volumes at /op/bin, where op-kube puts the op binary. */
  readonly clash: boolean;
}

const containerPlan: fc.Arbitrary<ContainerPlan> = fc.record({
  // Mostly a command: a listed container without one is denied.
  command: fc.oneof(
    { weight: 8, arbitrary: fc.array(fc.oneof(word, text), { minLength: 1, maxLength: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom<string[] | undefined>(undefined, []) },
  ),
  args: fc.option(fc.array(text, { maxLength: 3 }), { nil: undefined }),
  env: fc.uniqueArray(fc.record({ name: envName, secret: fc.boolean() }), {
    maxLength: 5,
    selector: (variable) => variable.name,
  }),
  envFrom: fc.boolean(),
  mounts: fc.subarray([...VOLUMES]),
  mountPathPick: fc.nat(),
  clash: fc.nat({ max: 19 }).map((n) => n === 0),
});

/** A pod the apiserver would accept, as it sends one (defaults aside), with its expected outcome. */
export const generatedPod: fc.Arbitrary<GeneratedPod> = fc
  .record({
    names: fc.shuffledSubarray(NAMES, { minLength: 1, maxLength: 5 }),
    initCount: fc.nat({ max: 4 }),
    reservedName: fc.nat({ max: 24 }).map((n) => n === 0),
    plans: fc.array(containerPlan, { minLength: 6, maxLength: 6 }),
    volumes: fc.subarray([...VOLUMES]),
    opBinIsEmptyDir: fc.nat({ max: 9 }).map((n) => n > 0),
    inject: fc.option(
      fc.record({
        pick: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        empty: fc.nat({ max: 19 }).map((n) => n === 0),
        unknown: fc.nat({ max: 14 }).map((n) => n === 0),
        spaces: fc.array(fc.constantFrom('', ' ', '  ', '\t'), { minLength: 10, maxLength: 10 }),
        trailingComma: fc.boolean(),
      }),
      // nil one time in six: pods without the annotation are skipped whatever else they hold.
      { nil: undefined, freq: 6 },
    ),
    status: fc.oneof(
      { weight: 8, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom('injected', ' Injected', 'pending') },
    ),
    version,
    initFirst,
    labels: fc.dictionary(word, word, { maxKeys: 3, noNullPrototype: true }),
    otherAnnotations: fc.dictionary(
      // Keys the apiserver accepts; "/" must reach the patch path as ~1.
      fc.constantFrom('example.com/owner', 'note', 'kubectl.kubernetes.io/restartedAt'),
      text,
      { maxKeys: 3, noNullPrototype: true },
    ),
    canary: fc.uuid(),
  })
  .map((plan) => {
    const names = plan.reservedName ? [...plan.names, 'copy-op-bin'] : plan.names;
    // Init containers come first in `names`; at least one regular container stays.
    const initCount = Math.min(plan.initCount, plan.names.length - 1);
    const volumes = plan.volumes;
    const envValues: string[] = [];
    const built = names.map((name, index) => {
      const p = plan.plans[index] ?? plan.plans[0];
      if (!p) throw new Error('no plan');
      const mounted = p.mounts.filter((volume) => volumes.includes(volume));
      const clashing = p.clash && mounted[0] !== undefined && mounted[0] !== 'op-bin';
      const volumeMounts = mounted
        .filter((volume) => !(clashing && volume === 'op-bin'))
        .map((volume, position) => {
          const paths = MOUNT_PATHS[volume];
          const mountPath =
            clashing && position === 0
              ? '/op/bin'
              : (paths[p.mountPathPick % paths.length] ?? '/x');
          return { name: volume, mountPath };
        });
      const env = p.env.map((variable, position): { [key: string]: Json } => {
        const value = `canary-${plan.canary}-${index}-${position}`;
        envValues.push(value);
        return variable.secret
          ? { name: variable.name, valueFrom: { secretKeyRef: { name: 'db', key: value } } }
          : { name: variable.name, value };
      });
      const container: { [key: string]: Json } = {
        name,
        image: `registry.example/${name}:1`,
        ...(p.command === undefined ? {} : { command: p.command }),
        ...(p.args === undefined ? {} : { args: p.args }),
        ...(env.length > 0 ? { env } : {}),
        ...(p.envFrom ? { envFrom: [{ secretRef: { name: 'app-env' } }] } : {}),
        ...(volumeMounts.length > 0 ? { volumeMounts } : {}),
        resources: {},
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'IfNotPresent',
      };
      return { container, hasCommand: (p.command?.length ?? 0) > 0, clashing };
    });
    const init = built.slice(0, initCount);
    const regular = built.slice(initCount);

    let injectValue: string | undefined;
    let targets: string[] = [];
    let unknown = false;
    if (plan.inject) {
      const picked = plan.inject.empty
        ? []
        : plan.inject.pick.map((n) => names[n % names.length] ?? 'app');
      unknown = plan.inject.unknown;
      const listed = unknown ? [...picked, 'ghost'] : picked;
      const spaced = listed.map(
        (name, i) =>
          `${plan.inject?.spaces[i % 10] ?? ''}${name}${plan.inject?.spaces[(i + 5) % 10] ?? ''}`,
      );
      injectValue = spaced.join(',') + (plan.inject.trailingComma ? ',' : '');
      targets = [...new Set(picked)];
    }
    const annotations: { [key: string]: Json } = { ...plan.otherAnnotations };
    if (injectValue !== undefined) annotations[INJECT] = injectValue;
    if (plan.status !== undefined) annotations[STATUS] = plan.status;
    if (plan.version.value !== undefined) annotations[VERSION] = plan.version.value;
    if (plan.initFirst.value !== undefined) annotations[INIT_FIRST] = plan.initFirst.value;

    const volumeList = volumes.map((name): { [key: string]: Json } =>
      name === 'op-bin' && !plan.opBinIsEmptyDir
        ? { name, configMap: { name: 'op-bin' } }
        : name === 'config'
          ? { name, configMap: { name: 'app-config' } }
          : { name, emptyDir: {} },
    );
    const pod: { [key: string]: Json } = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        generateName: 'fuzz-',
        labels: plan.labels,
        ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      },
      spec: {
        ...(volumeList.length > 0 ? { volumes: volumeList } : {}),
        ...(init.length > 0 ? { initContainers: init.map((entry) => entry.container) } : {}),
        containers: regular.map((entry) => entry.container),
        restartPolicy: 'Always',
      },
    };

    let expected: Expected;
    const targetedBuilt = built.filter((entry) => targets.includes(entry.container.name as string));
    if (
      injectValue === undefined ||
      plan.status?.trim().toLowerCase() === 'injected' ||
      (targets.length === 0 && !unknown)
    ) {
      expected = 'skip';
    } else if (
      unknown ||
      !plan.version.valid ||
      !plan.initFirst.valid ||
      plan.reservedName ||
      (volumes.includes('op-bin') && !plan.opBinIsEmptyDir) ||
      targetedBuilt.some((entry) => !entry.hasCommand || entry.clashing)
    ) {
      expected = 'deny';
    } else {
      expected = 'inject';
    }
    return { pod, expected, envValues };
  });

export interface GeneratedReview {
  readonly review: { [key: string]: Json };
  /** For a Pod CREATE, the pod's expected outcome; anything else is allowed unchanged. */
  readonly expected: Expected;
  readonly envValues: readonly string[];
}

/** AdmissionReviews as the apiserver sends them: mostly Pod CREATEs, some of everything else. */
export const generatedReview: fc.Arbitrary<GeneratedReview> = fc
  .record({
    generated: generatedPod,
    apiVersion: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'),
    uid: fc.uuid(),
    dryRun: fc.boolean(),
    namespace: word,
    shape: fc.oneof(
      { weight: 8, arbitrary: fc.constant('create') },
      { weight: 1, arbitrary: fc.constantFrom('update', 'delete', 'ephemeral', 'deployment') },
    ),
  })
  .map(({ generated, apiVersion, uid, dryRun, namespace, shape }) => {
    const podKind = { group: '', version: 'v1', kind: 'Pod' };
    const pods = { group: '', version: 'v1', resource: 'pods' };
    const base = {
      uid,
      kind: podKind,
      resource: pods,
      requestKind: podKind,
      requestResource: pods,
      namespace,
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      dryRun,
    };
    const request: { [key: string]: Json } = (() => {
      switch (shape) {
        case 'create':
          return { ...base, operation: 'CREATE', object: generated.pod, oldObject: null };
        case 'update':
          return {
            ...base,
            operation: 'UPDATE',
            name: 'p',
            object: generated.pod,
            oldObject: generated.pod,
          };
        case 'delete':
          return {
            ...base,
            operation: 'DELETE',
            name: 'p',
            object: null,
            oldObject: generated.pod,
          };
        case 'ephemeral':
          return {
            ...base,
            operation: 'UPDATE',
            subResource: 'ephemeralcontainers',
            name: 'p',
            object: generated.pod,
            oldObject: generated.pod,
          };
        default: {
          const deployment = { group: 'apps', version: 'v1', kind: 'Deployment' };
          const { metadata, spec } = generated.pod;
          return {
            ...base,
            kind: deployment,
            requestKind: deployment,
            resource: { group: 'apps', version: 'v1', resource: 'deployments' },
            operation: 'CREATE',
            object: {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: 'd' },
              spec: { template: { metadata: metadata ?? null, spec: spec ?? null } },
            },
            oldObject: null,
          };
        }
      }
    })();
    return {
      review: { apiVersion, kind: 'AdmissionReview', request },
      expected: shape === 'create' ? generated.expected : 'skip',
      envValues: generated.envValues,
    };
  });

export type PathStep = string | number;

/** Every path in `value`, the root's (empty) first, in document order. */
export function allPaths(value: Json, prefix: PathStep[] = []): PathStep[][] {
  const paths = [prefix];
  if (Array.isArray(value)) {
    value.forEach((entry, index) => paths.push(...allPaths(entry, [...prefix, index])));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, entry] of Object.entries(value)) {
      paths.push(...allPaths(entry, [...prefix, key]));
    }
  }
  return paths;
}

/** `levels` nested arrays or objects around `inner`. */
function nest(levels: number, inner: Json, asObject: boolean): Json {
  let value = inner;
  for (let level = 0; level < levels; level += 1) value = asObject ? { a: value } : [value];
  return value;
}

/** What an edit puts at a path: wrong types, odd values, huge strings, deep nesting. */
const replacement: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, '', 'x', [], {}) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
  { weight: 1, arbitrary: fc.constantFrom<Json>([null], [{}], ['x'], [[]], { name: 5 }, 'op-bin') },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 100_000, max: 600_000 }).map((length) => 'x'.repeat(length)),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ levels: fc.integer({ min: 80, max: 200 }), asObject: fc.boolean() })
      .map(({ levels, asObject }) => nest(levels, 0, asObject)),
  },
);

export type Edit = { readonly at: number; readonly focused: boolean } & (
  { readonly op: 'replace'; readonly value: Json } | { readonly op: 'remove' }
);

export const edit: fc.Arbitrary<Edit> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      at: fc.nat(),
      focused: fc.boolean(),
      op: fc.constant('replace' as const),
      value: replacement,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      at: fc.nat(),
      focused: fc.boolean(),
      op: fc.constant('remove' as const),
    }),
  },
);

/** Where the injector reads: a focused edit lands here, so the parts that matter are hit often. */
function isFocus(path: readonly PathStep[]): boolean {
  const [request, object, part, list] = path;
  if (request !== 'request' || object !== 'object') return false;
  if (part === 'metadata') return list === undefined || list === 'annotations';
  return (
    part === 'spec' &&
    (list === undefined || ['containers', 'initContainers', 'volumes'].includes(String(list)))
  );
}

/** `document` with each edit applied in turn, `at` picking among the paths it has by then. */
export function applyEdits(document: Json, edits: readonly Edit[]): Json {
  let current = structuredClone(document);
  for (const change of edits) {
    const every = allPaths(current);
    const focus = change.focused ? every.filter(isFocus) : [];
    const paths = focus.length > 0 ? focus : every;
    const path = paths[change.at % paths.length] ?? [];
    if (path.length === 0) {
      current = change.op === 'replace' ? structuredClone(change.value) : {};
      continue;
    }
    let parent = current as Record<PathStep, Json>;
    for (const step of path.slice(0, -1)) parent = parent[step] as Record<PathStep, Json>;
    const last = path.at(-1) as PathStep;
    if (change.op === 'replace') parent[last] = structuredClone(change.value);
    else if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  }
  return current;
}
