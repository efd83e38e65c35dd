// The Helm half of issue #13's migration e2e, on a private control plane: a user who installed
// 1Password's `connect` chart (its documented command plus a values file with non-default names)
// and its `secrets-injector` chart (both vendored unchanged in test/fixtures/onepassword-charts)
// converts the values the way op-kube's chart says (its install fails naming every refused value
// and what to use), `helm uninstall`s 1Password's releases and `helm install`s charts/op-kube with
// the converted values in the same namespaces. Object by object, what apps and users depend on is
// the same: Connect's Service and Deployment, the credentials and token Secrets, commonLabels, the
// operator's environment and its reach (watchNamespace), the injector's Service port; 1Password's
// CRD, a OnePasswordItem and its Secret are untouched. Every remaining difference is in a named
// allow-list below, so a new one fails the test. No worker node: pods stay Pending, no image is
// pulled. The fake credentials and token appear in no helm output and no object but their Secret.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import yaml from 'js-yaml';
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { CHART_DIR } from '../../tools/render-deploy.ts';
import { loadOnePasswordValues } from '../../tools/onepassword-values.ts';
import { helm, kubectl, privatePlane, type ToolResult } from '../support/cluster.ts';
import {
  ONEPASSWORD_FINALIZER,
  ONEPASSWORD_READY_STATUS,
  onePasswordSecret,
} from '../support/onepassword-operator.ts';

const { plane, remove: removePlane } = privatePlane('migration-helm');
const CHARTS = join(repoRoot, 'test', 'fixtures', 'onepassword-charts');
const CONNECT_CHART = join(CHARTS, 'connect');
const INJECTOR_CHART = join(CHARTS, 'secrets-injector');
/** The user's releases, kept for op-kube's. */
const CONNECT = { release: 'connect', namespace: 'onepassword' } as const;
const INJECTOR = { release: 'injector', namespace: 'secrets-injector' } as const;
const APP_NAMESPACE = 'shop';
const CRD = 'onepassworditems.onepassword.com';
const FINALIZER = ONEPASSWORD_FINALIZER;
const ITEM_PATH = 'vaults/production0000000000000000/items/database000000000000000000';

/** The user's values for 1Password's connect chart: non-default names, 1Password's images pinned. */
const CONNECT_VALUES = {
  commonLabels: { team: 'platform', 'cost-center': 'c42' },
  connect: { serviceType: 'NodePort', api: { logLevel: 'debug' } },
  operator: {
    pollingInterval: 120,
    autoRestart: true,
    watchNamespace: [APP_NAMESPACE],
    logLevel: 'debug',
    imageRepository: 'docker.io/1password/onepassword-operator',
    version: '1.12.0',
    customEnvVars: [{ name: 'HTTPS_PROXY', value: 'http://proxy.corp.example:3128' }],
  },
};
const INJECTOR_VALUES = {
  injector: {
    imageRepository: 'docker.io/1password/kubernetes-secrets-injector',
    version: '1.0.2',
    customEnvVars: [{ name: 'HTTPS_PROXY', value: 'http://proxy.corp.example:3128' }],
  },
};
/** What op-kube's install error names, per file. */
const REFUSED = {
  connect: ['operator.imageRepository', 'operator.version'],
  injector: ['injector.imageRepository', 'injector.version'],
} as const;

// ---- The allow-list: every difference between 1Password's objects and op-kube's that remains. ----

/** 1Password's object → op-kube's object of the same role, under another name. */
const RENAMED: Record<string, { to: string; why: string }> = {
  'Deployment/onepassword/onepassword-connect-operator': {
    to: 'Deployment/onepassword/connect-op-kube-operator',
    why: 'named from the release; nothing references it (operator.applicationName=onepassword-connect-operator keeps the old name)',
  },
  'ServiceAccount/onepassword/onepassword-connect-operator': {
    to: 'ServiceAccount/onepassword/connect-op-kube-operator',
    why: "op-kube names the operator's ServiceAccount from the release (operator.serviceAccount.name is refused with that guidance)",
  },
  'RoleBinding/shop/onepassword-connect-operator-shop': {
    to: 'RoleBinding/shop/connect-op-kube-operator',
    why: "binds op-kube's least-privilege Role in the watched namespace instead of 1Password's wide ClusterRole; same reach (checked with kubectl auth can-i)",
  },
  'Deployment/secrets-injector/secrets-injector': {
    to: 'Deployment/secrets-injector/injector-op-kube-webhook',
    why: 'named from the release (injector.applicationName is its app.kubernetes.io/name label); nothing outside the release references it',
  },
  'Service/secrets-injector/secrets-injector': {
    to: 'Service/secrets-injector/injector-op-kube-webhook',
    why: "only a MutatingWebhookConfiguration calls it: op-kube's names this Service; 1Password's secrets-injector-webhook-config is deleted in the migration. Same port 443 → 8443",
  },
  'ServiceAccount/secrets-injector/secrets-injector': {
    to: 'ServiceAccount/secrets-injector/injector-op-kube-webhook',
    why: 'named from the release',
  },
  'ClusterRole//secrets-injector': {
    to: 'ClusterRole//injector-op-kube-webhook-secrets-injector',
    why: 'named from the release and namespace so two releases never collide; it may only touch its own webhook configuration',
  },
  'ClusterRoleBinding//secrets-injector': {
    to: 'ClusterRoleBinding//injector-op-kube-webhook-secrets-injector',
    why: 'binds the ClusterRole above',
  },
};
/** 1Password's objects op-kube has no counterpart of. */
const GONE: Record<string, string> = {
  'ClusterRole//onepassword-connect-operator':
    "1Password's operator ClusterRole (every verb on pods, services, secrets, namespaces, …); op-kube grants least privilege through the Roles and ClusterRoles listed under ADDED",
};
/** op-kube's objects 1Password's charts do not make. */
const ADDED: Record<string, string> = {
  'ServiceAccount/onepassword/onepassword-connect':
    "Connect runs as its own ServiceAccount with no API token (automountServiceAccountToken: false); 1Password's runs as `default`",
  'Role/shop/connect-op-kube-operator':
    "the operator's least-privilege Role in the watched namespace (items, Secrets, Deployments, Events)",
  'Role/onepassword/connect-op-kube-operator-leader-election':
    "the Lease c26807fd.onepassword.com only, in the release namespace (1Password's chart, with watchNamespace set, binds nothing there)",
  'RoleBinding/onepassword/connect-op-kube-operator-leader-election': 'binds it',
  'ClusterRole//connect-op-kube-operator-namespaces-onepassword':
    'reads the watched Namespaces (vault policy and auto-restart annotations) and gets the OnePasswordItem CRD (outdated-CRD check); nothing else',
  'ClusterRoleBinding//connect-op-kube-operator-namespaces-onepassword': 'binds it',
  'ClusterRole//connect-op-kube-operator-metrics-auth-onepassword':
    '--metrics-secure (on, as 1Password): TokenReview/SubjectAccessReview for /metrics callers',
  'ClusterRoleBinding//connect-op-kube-operator-metrics-auth-onepassword': 'binds it',
  'ClusterRole//connect-op-kube-metrics-reader-onepassword':
    'the role a Prometheus binds to scrape /metrics (README, Metrics); bound to nobody',
  'Service/onepassword/connect-op-kube-operator-metrics': "the operator's /metrics",
  'Secret/secrets-injector/injector-op-kube-webhook-tls':
    "the injector's CA and serving certificate (self-managed TLS), created empty, filled by the injector",
  'Role/secrets-injector/injector-op-kube-webhook': 'that Secret and the Lease only',
  'RoleBinding/secrets-injector/injector-op-kube-webhook': 'binds it',
  'Lease/secrets-injector/injector-op-kube-webhook': 'one replica writes the certificate at a time',
  'MutatingWebhookConfiguration//injector-op-kube-webhook':
    "the chart's own configuration (1Password's injector creates secrets-injector-webhook-config at run time, outside Helm)",
};
/** Labels each chart puts on its own objects (chart, name, version, instance…): not the user's. */
const CHART_LABEL = /^(app\.kubernetes\.io\/|helm\.sh\/chart$)/;
/** Operator env only one side sets. */
const OPERATOR_ENV_ONLY_1PASSWORD: Record<string, string> = {
  OPERATOR_NAME:
    "1Password's operator never reads it (cmd/main.go reads WATCH_NAMESPACE, POLLING_INTERVAL, AUTO_RESTART, OP_*)",
};
const OPERATOR_ENV_ONLY_OP_KUBE: Record<string, string> = {
  POD_NAMESPACE: "the namespace of the operator's Lease and Events",
  HOME: '/tmp (read-only root filesystem)',
  TMPDIR: '/tmp (read-only root filesystem)',
};
const INJECTOR_ENV_ONLY_OP_KUBE: Record<string, string> = {
  POD_NAME: 'the Lease holder',
  HOME: '/tmp (read-only root filesystem)',
  TMPDIR: '/tmp (read-only root filesystem)',
};
/** The same reasons, used by several objects. */
const WHY = {
  selector: 'each chart selects its own pods (op-kube by its app.kubernetes.io/* labels)',
  podLabels:
    "compared above: 1Password's pod labels (but POD_LABELS_ONLY_1PASSWORD), commonLabels, op-kube's app.kubernetes.io/*",
  allocated:
    "allocated by the apiserver at each create (reinstalling 1Password's chart changes it too); apps use the DNS name",
  servicePorts:
    'compared below after resolving: same names, ports and container ports (op-kube names its targetPorts, states TCP)',
  serviceAccount:
    "the ServiceAccount is op-kube's (RENAMED/ADDED); serviceAccount is its deprecated alias",
  automount:
    'op-kube states automountServiceAccountToken: false for Connect, which never calls the API; true (the default) for the operator and the injector',
  env: 'compared below after resolving (OP_CONNECT_HOST to a Service FQDN), with the names only one side sets listed',
  containerPorts:
    "1Password's charts declare none; op-kube names them (Service targetPorts, probes)",
  securityContext:
    "op-kube adds runAsNonRoot and seccompProfile RuntimeDefault to 1Password's (restricted Pod Security profile)",
  tmp: 'op-kube mounts an emptyDir at /tmp, its HOME (read-only root filesystem)',
  resources:
    "op-kube's measured defaults (1Password's chart sets less or none); connect.*.resources / operator.resources keep 1Password's",
  ownImage:
    'op-kube runs its own image (operator.imageRepository/version and injector.imageRepository/version are refused saying so)',
  ownEntry:
    "op-kube's image entry (`op-kube operator|webhook` under node); 1Password's /manager and injector flags also run in it",
} as const;
/** Per Deployment and Service: the spec fields (field()) that may differ, and why. */
const SPEC_DIFFERS: Record<string, Record<string, string>> = {
  'Service/onepassword/onepassword-connect': {
    clusterIP: WHY.allocated,
    clusterIPs: WHY.allocated,
    ports: `${WHY.servicePorts}; NodePort numbers are allocated anew`,
    selector: WHY.selector,
  },
  'Service/secrets-injector/secrets-injector': {
    clusterIP: WHY.allocated,
    clusterIPs: WHY.allocated,
    ports: WHY.servicePorts,
    selector: WHY.selector,
  },
  'Deployment/onepassword/onepassword-connect': {
    selector: WHY.selector,
    'template.metadata.labels': WHY.podLabels,
    'template.spec.automountServiceAccountToken': WHY.automount,
    'template.spec.serviceAccount': WHY.serviceAccount,
    'template.spec.serviceAccountName': WHY.serviceAccount,
    'template.spec.containers.*.env': WHY.env,
    'template.spec.containers.*.image':
      "compared above with docker.io resolved: 1Password's Connect images and version",
    'template.spec.containers.*.ports': WHY.containerPorts,
    'template.spec.containers.*.resources': WHY.resources,
    'template.spec.containers.*.securityContext': WHY.securityContext,
    'template.spec.containers.*.volumeMounts':
      "op-kube adds emptyDirs for /tmp and each container's /home/opuser/.op (read-only root filesystem); shared-data and the credentials file (read-only) at 1Password's paths",
    'template.spec.volumes':
      'those emptyDirs; the credentials Secret op-credentials mounted without an items list (the file is taken by subPath, as 1Password)',
  },
  'Deployment/onepassword/onepassword-connect-operator': {
    selector: WHY.selector,
    'template.metadata.labels': WHY.podLabels,
    'template.spec.automountServiceAccountToken': WHY.automount,
    'template.spec.serviceAccount': WHY.serviceAccount,
    'template.spec.serviceAccountName': WHY.serviceAccount,
    'template.spec.containers.*.args':
      'compared below: every 1Password flag kept; op-kube adds --metrics-bind-address and --vault-policy',
    'template.spec.containers.*.command': WHY.ownEntry,
    'template.spec.containers.*.env': WHY.env,
    'template.spec.containers.*.image': WHY.ownImage,
    'template.spec.containers.*.livenessProbe':
      "same path and port; op-kube's default initialDelaySeconds is 5 (it starts in about a second; operator.probes.liveness.initialDelaySeconds keeps 15)",
    'template.spec.containers.*.name':
      "1Password names the container after connect.applicationName (onepassword-connect); op-kube's is `operator`",
    'template.spec.containers.*.ports': WHY.containerPorts,
    'template.spec.containers.*.readinessProbe':
      "same path and port; op-kube's default initialDelaySeconds is 0 (operator.probes.readiness.initialDelaySeconds keeps 5)",
    'template.spec.containers.*.resources': WHY.resources,
    'template.spec.containers.*.securityContext': WHY.securityContext,
    'template.spec.containers.*.volumeMounts': WHY.tmp,
    'template.spec.volumes': `${WHY.tmp}; size-limited to 64Mi`,
  },
  'Deployment/secrets-injector/secrets-injector': {
    selector: WHY.selector,
    'template.metadata.labels': WHY.podLabels,
    'template.spec.automountServiceAccountToken': WHY.automount,
    'template.spec.serviceAccount': WHY.serviceAccount,
    'template.spec.serviceAccountName': WHY.serviceAccount,
    'template.spec.containers.*.args':
      "op-kube's flags (--tls-mode=self-managed: one CA in a Secret, rotation, any number of replicas)",
    'template.spec.containers.*.command': WHY.ownEntry,
    'template.spec.containers.*.env': WHY.env,
    'template.spec.containers.*.image': WHY.ownImage,
    'template.spec.containers.*.lifecycle':
      "1Password's preStop /prestop.sh deletes the webhook configuration; op-kube's chart owns its configuration, so nothing runs at stop",
    'template.spec.containers.*.livenessProbe':
      "op-kube's injector has probes; 1Password's has none",
    'template.spec.containers.*.name':
      "1Password names the container after injector.applicationName; op-kube's is `webhook`",
    'template.spec.containers.*.ports': WHY.containerPorts,
    'template.spec.containers.*.readinessProbe':
      "op-kube's injector has probes; 1Password's has none",
    'template.spec.containers.*.resources': WHY.resources,
    'template.spec.containers.*.securityContext': WHY.securityContext,
    'template.spec.volumes': `${WHY.tmp}; size-limited to 64Mi`,
  },
};
/** Pod labels of 1Password's pods that op-kube's pods do not carry: Deployment → label → why. */
const POD_LABELS_ONLY_1PASSWORD: Record<string, Record<string, { value: string; why: string }>> = {
  'Deployment/onepassword/onepassword-connect-operator': {
    name: {
      value: 'onepassword-connect',
      why: "1Password's operator pods carry Connect's name as their selector label; selecting on it meant the operator, whose pods are app.kubernetes.io/component=operator in op-kube",
    },
  },
  'Deployment/secrets-injector/secrets-injector': {
    app: {
      value: 'secrets-injector',
      why: "op-kube's injector pods carry app.kubernetes.io/name=<injector.applicationName>; a NetworkPolicy that admits the apiserver to 1Password's injector by app=secrets-injector needs injector.podLabels.app=secrets-injector",
    },
  },
};

/** Labels on every object of 1Password's injector release that op-kube's do not carry. */
const INJECTOR_LABELS_ONLY_1PASSWORD: Record<string, string> = {
  app: "1Password's chart labels each injector object app=<injector.applicationName>; op-kube's carry app.kubernetes.io/name=<injector.applicationName> and the chart's app.kubernetes.io/* labels",
};

// ---- Helpers ----

const CLUSTER_SCOPED = new Set([
  'ClusterRole',
  'ClusterRoleBinding',
  'MutatingWebhookConfiguration',
  'CustomResourceDefinition',
]);

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    ownerReferences?: unknown[];
  };
  [field: string]: unknown;
}

/**
 * What helm printed for the user's commands (install, uninstall, list). `helm get manifest`, like
 * `kubectl get secret`, prints Secrets by design and is not kept.
 */
const helmOutput: { command: string; text: string }[] = [];

function run(tool: (args: readonly string[], p: typeof plane) => ToolResult, args: string[]) {
  const result = tool(args, plane);
  if (tool === helm && args[0] !== 'get') {
    helmOutput.push({ command: args.slice(0, 2).join(' '), text: result.stdout + result.stderr });
  }
  return result;
}

function ok(tool: typeof helm, args: string[]): string {
  const result = run(tool, args);
  assert.equal(result.status, 0, `${args.slice(0, 2).join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function keyOf(obj: Obj, releaseNamespace: string): string {
  const namespace = CLUSTER_SCOPED.has(obj.kind)
    ? ''
    : (obj.metadata.namespace ?? releaseNamespace);
  return `${obj.kind}/${namespace}/${obj.metadata.name}`;
}

/** Every object of a release: `helm get manifest`, each read back live. */
function releaseObjects(release: string, namespace: string): Map<string, Obj> {
  const manifest = ok(helm, ['get', 'manifest', release, '--namespace', namespace]);
  const docs = yaml.loadAll(manifest).filter((doc): doc is Obj => doc !== null);
  const live = new Map<string, Obj>();
  for (const doc of docs) {
    const ns = CLUSTER_SCOPED.has(doc.kind)
      ? []
      : ['--namespace', doc.metadata.namespace ?? namespace];
    const type = `${doc.kind}.${doc.apiVersion.includes('/') ? doc.apiVersion.split('/')[0] : ''}`;
    const read = ok(kubectl, [
      'get',
      type.replace(/\.$/, ''),
      doc.metadata.name,
      ...ns,
      '-o',
      'json',
    ]);
    live.set(keyOf(doc, namespace), JSON.parse(read) as Obj);
  }
  return live;
}

function get<T>(kind: string, name: string, namespace?: string): T {
  const ns = namespace ? ['--namespace', namespace] : [];
  return JSON.parse(ok(kubectl, ['get', kind, name, ...ns, '-o', 'json'])) as T;
}

function userLabels(labels: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).filter(([key]) => !CHART_LABEL.test(key)));
}

function envOf(container: V1Container | undefined): Map<string, string> {
  return new Map(
    (container?.env ?? []).map((entry: V1EnvVar) => [
      entry.name,
      entry.value ?? JSON.stringify(entry.valueFrom),
    ]),
  );
}

/** A Connect URL as the operator's pod resolves it: a short host is a Service of its namespace. */
function resolveUrl(url: string, namespace: string): string {
  const parsed = new URL(url);
  const host = parsed.hostname.includes('.')
    ? parsed.hostname.replace(/\.cluster\.local$/, '')
    : `${parsed.hostname}.${namespace}.svc`;
  return `${parsed.protocol}//${host}:${parsed.port}`;
}

/** docker.io is the default registry: `1password/connect-api` is `docker.io/1password/connect-api`. */
function image(name: string | undefined): string {
  const value = name ?? '';
  const first = value.split('/')[0] ?? '';
  return value.split('/').length === 2 || !/[.:]/.test(first) ? `docker.io/${value}` : value;
}

/** A Service's ports by name: port and the container port its targetPort resolves to. */
function ports(service: V1Service, deployment: V1Deployment): Record<string, string> {
  const containerPorts = new Map(
    (deployment.spec?.template.spec?.containers ?? []).flatMap((container) =>
      (container.ports ?? []).map((port) => [port.name ?? '', port.containerPort]),
    ),
  );
  return Object.fromEntries(
    (service.spec?.ports ?? []).map((port) => {
      const target = port.targetPort ?? port.port;
      const resolved = typeof target === 'string' ? containerPorts.get(target) : target;
      return [port.name ?? '', `${port.port}->${resolved}/${port.protocol ?? 'TCP'}`];
    }),
  );
}

/**
 * The dotted paths under which two objects differ: objects compared key by key, `containers` item
 * by item, any other array or value as a whole.
 */
function differing(a: unknown, b: unknown, path = ''): string[] {
  const isObject = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => differing(a[key], b[key], path ? `${path}.${key}` : key));
  }
  if (
    path.endsWith('containers') &&
    Array.isArray(a) &&
    Array.isArray(b) &&
    a.length === b.length
  ) {
    return a.flatMap((item, index) => differing(item, b[index], `${path}.${index}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

/** A spec path as SPEC_DIFFERS names it: labels and selectors whole, a container's field for any container. */
function field(path: string): string {
  const container = /^template\.spec\.containers\.\d+\.(\w+)/.exec(path);
  if (container) return `template.spec.containers.*.${container[1]}`;
  for (const whole of ['selector', 'template.metadata.labels']) {
    if (path === whole || path.startsWith(`${whole}.`)) return whole;
  }
  return path;
}

/** An object's spec with probe ports resolved to numbers and the default `scheme: HTTP` dropped. */
function comparable(obj: Obj): unknown {
  const spec = structuredClone(obj.spec) as V1Deployment['spec'];
  for (const container of spec?.template?.spec?.containers ?? []) {
    const named = new Map((container.ports ?? []).map((port) => [port.name, port.containerPort]));
    for (const probe of [container.livenessProbe, container.readinessProbe]) {
      const get = probe?.httpGet;
      if (!get) continue;
      if (typeof get.port === 'string') get.port = named.get(get.port) ?? get.port;
      if (get.scheme === 'HTTP') delete get.scheme;
    }
  }
  return spec;
}

function decoded(secret: V1Secret): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [
      key,
      Buffer.from(value, 'base64').toString(),
    ]),
  );
}

/**
 * Where the operator's ServiceAccount may do its work (watchNamespace's meaning): the verbs both
 * programs use (op-kube patches where 1Password's updates, and writes events.k8s.io Events; its
 * Roles grant only those, so `update` and core Events are not compared), in the watched namespace
 * and outside it.
 */
const REACH: readonly string[][] = [APP_NAMESPACE, 'default', CONNECT.namespace].flatMap(
  (namespace) => [
    ['list', 'onepassworditems.onepassword.com', '-n', namespace],
    ['watch', 'onepassworditems.onepassword.com', '-n', namespace],
    ['patch', 'onepassworditems.onepassword.com/status', '-n', namespace],
    ['create', 'secrets', '-n', namespace],
    ['patch', 'secrets', '-n', namespace],
    ['delete', 'secrets', '-n', namespace],
    ['patch', 'deployments.apps', '-n', namespace],
  ],
);

function reach(serviceAccount: string): string[] {
  return REACH.map((check) => {
    const result = kubectl(
      [
        'auth',
        'can-i',
        ...check,
        '--as',
        `system:serviceaccount:${CONNECT.namespace}:${serviceAccount}`,
      ],
      plane,
    );
    return `${check.join(' ')}: ${result.stdout.trim()}`;
  });
}

describe("switching the Helm release from 1Password's charts to op-kube's", () => {
  const dir = mkdtempSync(join(tmpdir(), 'op-kube-migration-helm-'));
  const marker = randomBytes(6).toString('hex');
  const credentials = JSON.stringify({
    verifier: { salt: `fake-salt-${marker}`, localHash: `fake-hash-${marker}` },
    encCredentials: { kid: 'fake', enc: 'A256GCM', cty: 'b5+jwk+json', iv: marker, data: marker },
    version: '2',
    deviceUuid: `fake-device-${marker}`,
    uniqueKey: {
      alg: 'A256GCM',
      ext: true,
      k: `fake-key-${marker}`,
      key_ops: ['decrypt'],
      kty: 'oct',
      kid: 'fake',
    },
  });
  const token = `fake-connect-token-${marker}`;
  const credentialsFile = join(dir, '1password-credentials.json');
  const file = (name: string, values: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, yaml.dump(values));
    return path;
  };
  /** 1Password's documented install flags (its connect chart's README), kept for op-kube's release. */
  const documented = [
    '--set-file',
    `connect.credentials=${credentialsFile}`,
    '--set',
    'operator.create=true',
    '--set',
    `operator.token.value=${token}`,
  ];
  let theirs: Map<string, Obj>;
  let theirsInjector: Map<string, Obj>;
  let theirReach: string[];
  let leftBehind: { crd: Obj; item: Obj; secret: Obj };

  before(async () => {
    writeFileSync(credentialsFile, credentials);
    assert.equal(await plane.up(), 'started');
    for (const namespace of [CONNECT.namespace, INJECTOR.namespace, APP_NAMESPACE]) {
      ok(kubectl, ['create', 'namespace', namespace]);
    }
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await removePlane();
  });

  it("installs 1Password's charts as their README says; their operator's state is left behind", () => {
    ok(helm, [
      'install',
      CONNECT.release,
      CONNECT_CHART,
      '--namespace',
      CONNECT.namespace,
      '-f',
      file('connect-values.yaml', CONNECT_VALUES),
      ...documented,
    ]);
    ok(helm, [
      'install',
      INJECTOR.release,
      INJECTOR_CHART,
      '--namespace',
      INJECTOR.namespace,
      '-f',
      file('injector-values.yaml', INJECTOR_VALUES),
    ]);
    theirs = releaseObjects(CONNECT.release, CONNECT.namespace);
    theirsInjector = releaseObjects(INJECTOR.release, INJECTOR.namespace);
    assert.deepEqual([...theirs.keys()].sort(), [
      'ClusterRole//onepassword-connect-operator',
      'Deployment/onepassword/onepassword-connect',
      'Deployment/onepassword/onepassword-connect-operator',
      'RoleBinding/shop/onepassword-connect-operator-shop',
      'Secret/onepassword/onepassword-token',
      'Secret/onepassword/op-credentials',
      'Service/onepassword/onepassword-connect',
      'ServiceAccount/onepassword/onepassword-connect-operator',
    ]);
    theirReach = reach('onepassword-connect-operator');
    assert.deepEqual(
      theirReach.filter((line) => line.endsWith(': yes')),
      REACH.filter((check) => check[3] === APP_NAMESPACE).map((check) => `${check.join(' ')}: yes`),
      'watchNamespace: the watched namespace only',
    );

    // What 1Password's operator leaves: its chart's CRD (crds/, which Helm never deletes), an item
    // with its finalizer and status, and the item's Secret (annotations, non-controller owner).
    const crd = get<Obj>('crd', CRD);
    assert.equal(
      crd.metadata.labels?.['app.kubernetes.io/managed-by'],
      undefined,
      'crds/: not a release object',
    );
    const item = JSON.parse(
      ok(kubectl, [
        'create',
        '--namespace',
        APP_NAMESPACE,
        '-o',
        'json',
        '-f',
        file('item.yaml', {
          apiVersion: 'onepassword.com/v1',
          kind: 'OnePasswordItem',
          metadata: { name: 'db', finalizers: [FINALIZER] },
          spec: { itemPath: ITEM_PATH },
        }),
      ]),
    ) as Obj;
    ok(kubectl, [
      'patch',
      'onepassworditems',
      'db',
      '--namespace',
      APP_NAMESPACE,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(ONEPASSWORD_READY_STATUS),
    ]);
    ok(kubectl, [
      'create',
      '--namespace',
      APP_NAMESPACE,
      '-f',
      file(
        'secret.yaml',
        onePasswordSecret({
          name: 'db',
          itemPath: ITEM_PATH,
          data: { password: 'db-password' },
          owner: {
            apiVersion: 'onepassword.com/v1',
            kind: 'OnePasswordItem',
            name: 'db',
            uid: item.metadata.uid ?? '',
          },
        }),
      ),
    ]);
    leftBehind = {
      crd,
      item: get<Obj>('onepassworditems', 'db', APP_NAMESPACE),
      secret: get<Obj>('secret', 'db', APP_NAMESPACE),
    };
  });

  it('refuses the unconverted values, naming each refused value and what to use instead', async () => {
    const rows = new Map((await loadOnePasswordValues()).map((row) => [row.name, row]));
    for (const [which, release, values] of [
      ['connect', CONNECT, CONNECT_VALUES],
      ['injector', INJECTOR, INJECTOR_VALUES],
    ] as const) {
      // Before uninstalling anything: the same command with --dry-run (the release name is still
      // 1Password's; a dry run does not mind).
      const result = run(helm, [
        'install',
        release.release,
        CHART_DIR,
        '--namespace',
        release.namespace,
        '-f',
        file(`${which}-unconverted.yaml`, values),
        ...(which === 'connect' ? documented : []),
        '--dry-run',
      ]);
      assert.notEqual(result.status, 0, `${which}: installed`);
      const listed = [...result.stderr.matchAll(/^ {2}- ([\w.]+): (.*)$/gm)];
      assert.deepEqual(
        listed.map((match) => match[1]),
        REFUSED[which],
      );
      for (const match of listed) assert.equal(match[2], rows.get(match[1] ?? '')?.why);
    }
    // Nothing changed: 1Password's releases only.
    assert.deepEqual(
      ok(helm, ['list', '--all-namespaces', '--all', '--short']).trim().split('\n').sort(),
      [CONNECT.release, INJECTOR.release],
    );
  });

  it("uninstall 1Password's releases, install op-kube's with the converted values: the same objects", () => {
    // The conversion: the refused names removed (op-kube runs its own image), and each release
    // keeps its one component (op-kube's chart deploys the operator and the injector by default).
    const connectValues = structuredClone(CONNECT_VALUES) as typeof CONNECT_VALUES & {
      injector?: unknown;
    };
    delete (connectValues.operator as Partial<typeof CONNECT_VALUES.operator>).imageRepository;
    delete (connectValues.operator as Partial<typeof CONNECT_VALUES.operator>).version;
    connectValues.injector = { create: false };
    const injectorValues = {
      injector: { customEnvVars: INJECTOR_VALUES.injector.customEnvVars },
      operator: { create: false },
    };

    ok(helm, ['uninstall', CONNECT.release, '--namespace', CONNECT.namespace, '--wait']);
    ok(helm, ['uninstall', INJECTOR.release, '--namespace', INJECTOR.namespace, '--wait']);
    ok(helm, [
      'install',
      CONNECT.release,
      CHART_DIR,
      '--namespace',
      CONNECT.namespace,
      '-f',
      file('connect-converted.yaml', connectValues),
      ...documented,
    ]);
    ok(helm, [
      'install',
      INJECTOR.release,
      CHART_DIR,
      '--namespace',
      INJECTOR.namespace,
      '-f',
      file('injector-converted.yaml', injectorValues),
    ]);
    const ours = releaseObjects(CONNECT.release, CONNECT.namespace);
    const oursInjector = releaseObjects(INJECTOR.release, INJECTOR.namespace);

    // Object lists: the same names, but for the allow-list.
    const theirKeys = [...theirs.keys(), ...theirsInjector.keys()];
    const ourKeys = [...ours.keys(), ...oursInjector.keys()];
    const counterpart = (key: string): string | undefined =>
      GONE[key] ? undefined : (RENAMED[key]?.to ?? key);
    assert.deepEqual(
      theirKeys.filter((key) => counterpart(key) && !ourKeys.includes(counterpart(key) ?? '')),
      [],
      "1Password's objects without an op-kube counterpart (and not in GONE)",
    );
    const mapped = new Set(theirKeys.map(counterpart));
    assert.deepEqual(
      ourKeys.filter((key) => !mapped.has(key)).sort(),
      Object.keys(ADDED).sort(),
      "op-kube's objects beyond 1Password's: exactly ADDED",
    );
    assert.deepEqual(
      Object.keys(GONE).filter((key) => !theirKeys.includes(key)),
      [],
      'GONE lists only objects 1Password made',
    );
    const before1Password = new Map([...theirs, ...theirsInjector]);
    const afterOpKube = new Map([...ours, ...oursInjector]);
    /** 1Password's object and op-kube's counterpart. */
    const pair = (key: string): [Obj, Obj] => {
      const before = before1Password.get(key);
      const now = afterOpKube.get(RENAMED[key]?.to ?? key);
      assert.ok(before && now, key);
      return [before, now];
    };

    // commonLabels (and any other label a user could select on) on every connect-release object.
    for (const key of theirs.keys()) {
      if (GONE[key]) continue;
      const [before, now] = pair(key);
      assert.deepEqual(
        userLabels(now.metadata.labels),
        userLabels(before.metadata.labels),
        `labels of ${key}`,
      );
      assert.equal(now.metadata.labels?.team, 'platform', key);
    }
    for (const key of theirsInjector.keys()) {
      const [before, now] = pair(key);
      const expected = userLabels(before.metadata.labels);
      for (const label of Object.keys(INJECTOR_LABELS_ONLY_1PASSWORD)) delete expected[label];
      assert.deepEqual(userLabels(now.metadata.labels), expected, `labels of ${key}`);
    }
    for (const key of Object.keys(ADDED).filter((added) => ours.has(added))) {
      assert.equal(
        ours.get(key)?.metadata.labels?.['cost-center'],
        'c42',
        `commonLabels on ${key}`,
      );
    }

    // Every spec field of each kept or renamed Deployment and Service: equal, but for SPEC_DIFFERS.
    const specs = [...before1Password.keys()].filter((key) => /^(Deployment|Service)\//.test(key));
    assert.deepEqual(specs.sort(), Object.keys(SPEC_DIFFERS).sort());
    for (const key of specs) {
      const [before, now] = pair(key);
      assert.deepEqual(
        [...new Set(differing(comparable(before), comparable(now)).map(field))].sort(),
        Object.keys(SPEC_DIFFERS[key] ?? {}).sort(),
        `the spec fields in which ${key} differs`,
      );
    }

    // Connect's Service: the name apps' OP_CONNECT_HOST names, type, ports (resolved to the pods').
    const [theirService, ourService] = pair(
      'Service/onepassword/onepassword-connect',
    ) as unknown as [V1Service, V1Service];
    const [theirConnect, ourConnect] = pair(
      'Deployment/onepassword/onepassword-connect',
    ) as unknown as [V1Deployment, V1Deployment];
    assert.equal(ourService.spec?.type, theirService.spec?.type);
    assert.equal(ourService.spec?.type, 'NodePort');
    assert.deepEqual(ports(ourService, ourConnect), ports(theirService, theirConnect));
    assert.deepEqual(ports(ourService, ourConnect), {
      'connect-api': '8080->8080/TCP',
      'connect-sync': '8081->8081/TCP',
    });

    // Connect's Deployment: replicas, containers, Connect's images and version, env, credentials.
    const pod = (deployment: V1Deployment) => deployment.spec?.template.spec;
    assert.equal(ourConnect.spec?.replicas, theirConnect.spec?.replicas);
    assert.deepEqual(
      pod(ourConnect)?.containers.map((container) => [container.name, image(container.image)]),
      pod(theirConnect)?.containers.map((container) => [container.name, image(container.image)]),
      "1Password's Connect images and version",
    );
    for (const [index, container] of (pod(theirConnect)?.containers ?? []).entries()) {
      assert.deepEqual(
        [...envOf(pod(ourConnect)?.containers[index])].sort(),
        [...envOf(container)].sort(),
        `env of ${container.name}`,
      );
    }
    const credentialsVolume = (deployment: V1Deployment) =>
      pod(deployment)?.volumes?.find((volume) => volume.secret)?.secret?.secretName;
    assert.equal(credentialsVolume(ourConnect), 'op-credentials');
    assert.equal(credentialsVolume(theirConnect), 'op-credentials');
    // Pod labels (NetworkPolicies and monitors select pods by them): 1Password's, but for
    // POD_LABELS_ONLY_1PASSWORD; op-kube's pods carry commonLabels too.
    for (const key of [
      'Deployment/onepassword/onepassword-connect',
      'Deployment/onepassword/onepassword-connect-operator',
      'Deployment/secrets-injector/secrets-injector',
    ]) {
      const [before, now] = pair(key) as unknown as [V1Deployment, V1Deployment];
      const expected = userLabels(before.spec?.template.metadata?.labels);
      for (const [label, { value }] of Object.entries(POD_LABELS_ONLY_1PASSWORD[key] ?? {})) {
        assert.equal(expected[label], value, `${key} ${label}`);
        delete expected[label];
      }
      const common = key.startsWith('Deployment/onepassword/') ? CONNECT_VALUES.commonLabels : {};
      assert.deepEqual(
        userLabels(now.spec?.template.metadata?.labels),
        { ...expected, ...common },
        `pod labels of ${key}`,
      );
    }

    // The credentials and token Secrets: same names, keys and data.
    for (const [name, key, value] of [
      ['op-credentials', '1password-credentials.json', credentials],
      ['onepassword-token', 'token', token],
    ] as const) {
      const [before, now] = pair(`Secret/onepassword/${name}`) as unknown as [V1Secret, V1Secret];
      assert.deepEqual(decoded(now), decoded(before), name);
      assert.deepEqual(decoded(now), { [key]: value }, name);
      assert.equal(now.type, before.type);
    }

    // The operator: its environment after resolving, its flags, its reach.
    const [theirOperator, ourOperator] = pair(
      'Deployment/onepassword/onepassword-connect-operator',
    ) as unknown as [V1Deployment, V1Deployment];
    const theirEnv = envOf(pod(theirOperator)?.containers[0]);
    const ourEnv = envOf(pod(ourOperator)?.containers[0]);
    for (const env of [theirEnv, ourEnv]) {
      env.set('OP_CONNECT_HOST', resolveUrl(env.get('OP_CONNECT_HOST') ?? '', CONNECT.namespace));
    }
    assert.deepEqual(
      [...theirEnv].filter(([name]) => !(name in OPERATOR_ENV_ONLY_1PASSWORD)).sort(),
      [...ourEnv].filter(([name]) => !(name in OPERATOR_ENV_ONLY_OP_KUBE)).sort(),
      "the operator's environment",
    );
    assert.deepEqual(
      Object.fromEntries(
        [...ourEnv].filter(([name]) =>
          /^(OP_CONNECT_HOST|WATCH_NAMESPACE|POLLING_INTERVAL|AUTO_RESTART|HTTPS_PROXY)$/.test(
            name,
          ),
        ),
      ),
      {
        OP_CONNECT_HOST: 'http://onepassword-connect.onepassword.svc:8080',
        WATCH_NAMESPACE: APP_NAMESPACE,
        POLLING_INTERVAL: '120',
        AUTO_RESTART: 'true',
        HTTPS_PROXY: 'http://proxy.corp.example:3128',
      },
    );
    assert.deepEqual(
      Object.keys(OPERATOR_ENV_ONLY_1PASSWORD).filter((name) => !theirEnv.has(name)),
      [],
    );
    assert.deepEqual(
      [...ourEnv.keys()].filter((name) => !theirEnv.has(name)).sort(),
      Object.keys(OPERATOR_ENV_ONLY_OP_KUBE).sort(),
    );
    const ourArgs = pod(ourOperator)?.containers[0]?.args ?? [];
    for (const arg of pod(theirOperator)?.containers[0]?.args ?? []) {
      assert.ok(ourArgs.includes(arg), `operator flag ${arg}`);
    }
    assert.equal(ourOperator.spec?.replicas, theirOperator.spec?.replicas);
    assert.deepEqual(
      reach(ourOperator.spec?.template.spec?.serviceAccountName ?? ''),
      theirReach,
      "the operator's reach (operator.watchNamespace)",
    );

    // The injector: its Service port, resolved to the container's; its environment.
    const [theirInjectorService, ourInjectorService] = pair(
      'Service/secrets-injector/secrets-injector',
    ) as unknown as [V1Service, V1Service];
    const [theirInjector, ourInjector] = pair(
      'Deployment/secrets-injector/secrets-injector',
    ) as unknown as [V1Deployment, V1Deployment];
    assert.deepEqual(
      Object.values(ports(ourInjectorService, ourInjector)),
      Object.values(ports(theirInjectorService, theirInjector)),
    );
    assert.deepEqual(Object.values(ports(ourInjectorService, ourInjector)), ['443->8443/TCP']);
    assert.equal(ourInjectorService.spec?.type, theirInjectorService.spec?.type);
    const theirInjectorEnv = envOf(pod(theirInjector)?.containers[0]);
    const ourInjectorEnv = envOf(pod(ourInjector)?.containers[0]);
    assert.deepEqual(
      [...ourInjectorEnv].filter(([name]) => !(name in INJECTOR_ENV_ONLY_OP_KUBE)).sort(),
      [...theirInjectorEnv].sort(),
      "the injector's environment",
    );
    const webhook = oursInjector.get('MutatingWebhookConfiguration//injector-op-kube-webhook');
    const calls = (
      webhook as { webhooks?: { clientConfig?: { service?: unknown } }[] } | undefined
    )?.webhooks?.map((entry) => entry.clientConfig?.service);
    assert.deepEqual(calls, [
      {
        name: 'injector-op-kube-webhook',
        namespace: INJECTOR.namespace,
        path: '/inject',
        port: 443,
      },
    ]);
  });

  it("leaves 1Password's CRD, the item and its Secret untouched", () => {
    const crd = get<Obj>('crd', CRD);
    assert.equal(crd.metadata.uid, leftBehind.crd.metadata.uid);
    assert.equal(crd.metadata.generation, leftBehind.crd.metadata.generation);
    assert.deepEqual(crd.spec, leftBehind.crd.spec, "still 1Password's (the CRD step is its own)");
    const item = get<Obj>('onepassworditems', 'db', APP_NAMESPACE);
    const secret = get<Obj>('secret', 'db', APP_NAMESPACE);
    assert.deepEqual(item, leftBehind.item);
    assert.deepEqual(secret, leftBehind.secret);
    assert.deepEqual(item.metadata.finalizers, [FINALIZER]);
    assert.equal(secret.metadata.annotations?.['operator.1password.io/item-path'], ITEM_PATH);
  });

  it('shows the fake credentials and token in no helm output and no object but their Secret', () => {
    const secrets = [
      token,
      marker,
      Buffer.from(token).toString('base64'),
      Buffer.from(credentials).toString('base64').slice(0, 40),
    ];
    assert.ok(helmOutput.length >= 8);
    for (const { command, text } of helmOutput) {
      for (const secret of secrets)
        assert.ok(!text.includes(secret), `a secret in helm ${command}`);
    }
    const listed = kubectl(
      [
        'get',
        'deployments,replicasets,pods,services,serviceaccounts,configmaps,roles,rolebindings,clusterroles,clusterrolebindings,mutatingwebhookconfigurations,leases,events,onepassworditems',
        '--all-namespaces',
        '-o',
        'json',
      ],
      plane,
    );
    assert.equal(listed.status, 0, listed.stderr);
    for (const secret of secrets)
      assert.ok(!listed.stdout.includes(secret), 'a secret in an object');
    const stored = JSON.parse(
      ok(kubectl, ['get', 'secrets', '--all-namespaces', '-o', 'json']),
    ) as { items: V1Secret[] };
    const holding = stored.items
      .filter((secret) =>
        Object.values(decoded(secret)).some(
          (value) => value.includes(token) || value.includes(marker),
        ),
      )
      .map((secret) => `${secret.metadata?.namespace}/${secret.metadata?.name}`);
    assert.deepEqual(holding.sort(), [
      'onepassword/onepassword-token',
      'onepassword/op-credentials',
    ]);
  });
});
