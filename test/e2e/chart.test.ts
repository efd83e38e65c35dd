// The Helm chart (charts/op-kube) and the plain manifests rendered from it (deploy/): lint, render
// invariants, and installs into the real control plane (objects only: no kubelet runs the pods).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import yaml from 'js-yaml';
import type {
  V1Container,
  V1Deployment,
  V1MutatingWebhookConfiguration,
  V1PodSpec,
  V1Role,
  V1Secret,
} from '@kubernetes/client-node';
import { OPERATOR_NODE_FLAGS, WEBHOOK_NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { CHART_DIR, DEPLOY_DIR, renderDeploy } from '../../tools/render-deploy.ts';
import {
  eventually,
  helm,
  kubectl,
  testNamespace,
  testPlane,
  type ToolResult,
} from '../support/cluster.ts';

function kubectlWithInput(args: readonly string[], input: string): ToolResult {
  const plane = testPlane();
  const result = spawnSync(
    join(plane.binDir, 'kubectl'),
    ['--kubeconfig', plane.kubeconfigPath, ...args],
    { input, encoding: 'utf8', timeout: 60_000 },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

function template(release: string, namespace: string, args: readonly string[] = []): Manifest[] {
  const result = helm(['template', release, CHART_DIR, '--namespace', namespace, ...args]);
  assert.equal(result.status, 0, result.stderr);
  return yaml.loadAll(result.stdout).filter((doc): doc is Manifest => doc !== null);
}

function find<T>(manifests: readonly Manifest[], kind: string, name?: string): T[] {
  return manifests.filter(
    (manifest) => manifest.kind === kind && (name === undefined || manifest.metadata.name === name),
  ) as unknown as T[];
}

function one<T>(manifests: readonly Manifest[], kind: string, name?: string): T {
  const found = find<T>(manifests, kind, name);
  assert.equal(found.length, 1, `expected one ${kind}${name ? ` ${name}` : ''}`);
  return found[0] as T;
}

function deployment(manifests: readonly Manifest[], component: string): V1Deployment {
  const found = find<V1Deployment>(manifests, 'Deployment').filter(
    (item) => item.metadata?.labels?.['app.kubernetes.io/component'] === component,
  );
  assert.equal(found.length, 1, `expected one ${component} Deployment`);
  return found[0] as V1Deployment;
}

function container(manifests: readonly Manifest[], component: string): V1Container {
  const spec = deployment(manifests, component).spec?.template.spec;
  const first = spec?.containers[0];
  assert.ok(first, `${component} has a container`);
  return first;
}

/** The flag's value in a container's args (`--name=value`), undefined when absent. */
function flag(args: readonly string[] | undefined, name: string): string | undefined {
  const prefix = `--${name}=`;
  return args?.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

/** The restricted Pod Security profile's fields, on the pod or on each container. */
function assertRestricted(where: string, spec: V1PodSpec): void {
  const pod = spec.securityContext ?? {};
  for (const item of [...(spec.initContainers ?? []), ...spec.containers]) {
    const context = item.securityContext ?? {};
    const at = `${where}/${item.name}`;
    assert.equal(context.runAsNonRoot ?? pod.runAsNonRoot, true, `${at}: runAsNonRoot`);
    const user = context.runAsUser ?? pod.runAsUser;
    assert.ok(user !== undefined && user > 0, `${at}: numeric non-root runAsUser`);
    assert.equal(context.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation`);
    assert.deepEqual(context.capabilities?.drop, ['ALL'], `${at}: capabilities drop ALL`);
    assert.equal(context.readOnlyRootFilesystem, true, `${at}: readOnlyRootFilesystem`);
    const seccomp = context.seccompProfile?.type ?? pod.seccompProfile?.type;
    assert.equal(seccomp, 'RuntimeDefault', `${at}: seccompProfile RuntimeDefault`);
    assert.ok(item.resources?.limits?.memory, `${at}: memory limit`);
    assert.ok(item.resources?.requests?.cpu, `${at}: cpu request`);
  }
  assert.equal(spec.hostNetwork ?? false, false, `${where}: hostNetwork`);
  for (const volume of spec.volumes ?? []) {
    assert.equal(volume.hostPath, undefined, `${where}: no hostPath volume`);
  }
}

const EVERYTHING = [
  '--set',
  'connect.create=true',
  '--set',
  'connect.credentials_base64=e30=',
  '--set',
  'operator.replicas=2',
  '--set',
  'injector.replicas=2',
  '--set',
  'injector.podDisruptionBudget.enabled=true',
  '--set',
  'networkPolicy.enabled=true',
  '--set',
  'serviceMonitor.enabled=true',
];

const CONNECT_LOCAL = [
  '--set',
  'connectLocal.enabled=true',
  '--set',
  'networkPolicy.enabled=true',
  '--set',
  'operator.replicas=2',
];

describe('Helm chart', () => {
  it('passes helm lint with no warning', () => {
    const result = helm(['lint', '--strict', CHART_DIR]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.doesNotMatch(result.stdout, /\[(WARNING|ERROR)\]/);
  });

  it('renders only pods that pass the restricted Pod Security profile', () => {
    for (const args of [
      [],
      EVERYTHING,
      CONNECT_LOCAL,
      ['--set', 'injector.tls.mode=cert-manager'],
    ]) {
      const manifests = template('psa', 'psa', args);
      const deployments = find<V1Deployment>(manifests, 'Deployment');
      assert.ok(deployments.length >= 2);
      for (const item of deployments) {
        const spec = item.spec?.template.spec;
        assert.ok(spec);
        assertRestricted(`Deployment ${item.metadata?.name ?? ''}`, spec);
      }
    }
  });

  it('probes and serves on the ports each program listens on, with /tmp writable', () => {
    const manifests = template('ports', 'ports', CONNECT_LOCAL);
    const port = (item: V1Container, name: string): number | undefined =>
      item.ports?.find((entry) => entry.name === name)?.containerPort;
    const probes = (item: V1Container): unknown[] =>
      [item.livenessProbe, item.readinessProbe].map((probe) => probe?.httpGet);
    // Paths as src/operator/endpoints.ts, src/webhook/server.ts and src/connect-local/api.ts serve them.
    const operator = container(manifests, 'operator');
    assert.equal(flag(operator.args, 'health-probe-bind-address'), `:${port(operator, 'health')}`);
    assert.equal(flag(operator.args, 'metrics-bind-address'), `:${port(operator, 'metrics')}`);
    assert.deepEqual(probes(operator), [
      { path: '/healthz', port: 'health' },
      { path: '/readyz', port: 'health' },
    ]);
    const webhook = container(manifests, 'injector');
    assert.equal(flag(webhook.args, 'port'), String(port(webhook, 'https')));
    assert.deepEqual(probes(webhook), [
      { scheme: 'HTTPS', path: '/healthz', port: 'https' },
      { scheme: 'HTTPS', path: '/readyz', port: 'https' },
    ]);
    const local = container(manifests, 'connect-local');
    assert.equal(flag(local.args, 'host'), '0.0.0.0');
    assert.equal(flag(local.args, 'port'), String(port(local, 'http')));
    assert.deepEqual(probes(local), [
      { path: '/heartbeat', port: 'http' },
      { path: '/health', port: 'http' },
    ]);
    // Services reach the named ports; the apiserver calls the webhook on its Service's port.
    type Service = {
      metadata: { name: string };
      spec: { ports: { port: number; targetPort: string }[] };
    };
    const services = find<Service>(manifests, 'Service');
    const webhookService = services.find((item) => item.metadata.name === 'ports-op-kube-webhook');
    assert.deepEqual(
      webhookService?.spec.ports.map((item) => item.targetPort),
      ['https'],
    );
    const configuration = one<V1MutatingWebhookConfiguration>(
      manifests,
      'MutatingWebhookConfiguration',
    );
    assert.equal(
      configuration.webhooks?.[0]?.clientConfig.service?.port,
      webhookService?.spec.ports[0]?.port,
    );
    const localService = services.find(
      (item) => item.metadata.name === 'ports-op-kube-connect-local',
    );
    assert.deepEqual(
      localService?.spec.ports.map((item) => item.targetPort),
      ['http'],
    );
    for (const component of ['operator', 'injector', 'connect-local']) {
      const spec = deployment(manifests, component).spec?.template.spec;
      const item = spec?.containers[0];
      assert.equal(item?.imagePullPolicy, 'IfNotPresent', component);
      const tmp = item?.volumeMounts?.find((mount) => mount.mountPath === '/tmp');
      assert.ok(tmp, `${component} mounts /tmp`);
      const volume = spec?.volumes?.find((entry) => entry.name === tmp.name);
      assert.ok(volume?.emptyDir, `${component}: /tmp is an emptyDir`);
    }
  });

  it('starts each component with its own Node flags, as src/cli/node-flags.ts lists them', () => {
    const manifests = template('flags', 'flags');
    const operator = container(manifests, 'operator');
    assert.deepEqual(operator.command, [
      'node',
      ...OPERATOR_NODE_FLAGS,
      '/app/bin/op-kube.js',
      'operator',
    ]);
    const injector = container(manifests, 'injector');
    assert.deepEqual(injector.command, [
      'node',
      ...WEBHOOK_NODE_FLAGS,
      '/app/bin/op-kube.js',
      'webhook',
    ]);
  });

  it('maps operator values onto 1Password environment and flags', () => {
    const single = container(template('op', 'ops'), 'operator');
    assert.ok(!single.args?.includes('--leader-elect'), 'one replica: no leader election');
    const env = new Map(single.env?.map((item) => [item.name, item]));
    assert.equal(env.get('OP_CONNECT_HOST')?.value, 'http://onepassword-connect:8080');
    assert.deepEqual(env.get('OP_CONNECT_TOKEN')?.valueFrom?.secretKeyRef, {
      name: 'onepassword-token',
      key: 'token',
    });
    assert.equal(env.get('POLLING_INTERVAL')?.value, '600');
    assert.equal(env.get('WATCH_NAMESPACE')?.value, '');
    assert.equal(env.get('POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');

    const manifests = template('op', 'ops', [
      '--set',
      'operator.replicas=3',
      '--set',
      'operator.watchNamespace={apps,jobs}',
      '--set',
      'operator.autoRestart=true',
      '--set',
      'operator.enableAnnotations=true',
      '--set',
      'operator.allowEmptyValues=true',
      '--set',
      'operator.logLevel=debug',
      '--set',
      'operator.pollingInterval=30',
      '--set',
      'connect.host=https://connect.example:8443',
    ]);
    const operator = container(manifests, 'operator');
    for (const arg of ['--leader-elect', '--enable-annotations', '--allow-empty-values']) {
      assert.ok(operator.args?.includes(arg), arg);
    }
    assert.equal(flag(operator.args, 'zap-log-level'), 'debug');
    const values = new Map(operator.env?.map((item) => [item.name, item.value]));
    assert.equal(values.get('WATCH_NAMESPACE'), 'apps,jobs');
    assert.equal(values.get('AUTO_RESTART'), 'true');
    assert.equal(values.get('POLLING_INTERVAL'), '30');
    assert.equal(values.get('OP_CONNECT_HOST'), 'https://connect.example:8443');
    // Watching a list: Roles in those namespaces, and no cluster-wide access to Secrets.
    const roles = find<V1Role>(manifests, 'Role', 'op-op-kube-operator');
    assert.deepEqual(roles.map((role) => role.metadata?.namespace).sort(), ['apps', 'jobs']);
    for (const role of find<V1Role>(manifests, 'ClusterRole')) {
      for (const rule of role.rules ?? []) assert.ok(!rule.resources?.includes('secrets'));
    }
    assert.ok(
      roles.every((role) => role.rules?.some((rule) => rule.resources?.includes('secrets'))),
    );
  });

  it("reads each namespace's own token Secret with operator.tokenSource=namespace, copies it with operator.tokenCopies, the injector wiring the same one", () => {
    const operator = container(
      template('op', 'ops', [
        '--set',
        'operator.tokenSource=namespace',
        '--set',
        'operator.namespaceToken.name=team-token',
        '--set',
        'operator.namespaceToken.key=connect',
        '--set',
        'injector.tokenSecretName=team-token',
        '--set',
        'injector.tokenSecretKey=connect',
      ]),
      'operator',
    );
    assert.equal(flag(operator.args, 'token-source'), 'namespace');
    assert.equal(flag(operator.args, 'token-secret-name'), 'team-token');
    assert.equal(flag(operator.args, 'token-secret-key'), 'connect');
    const names = operator.env?.map((item) => item.name) ?? [];
    assert.ok(names.includes('OP_CONNECT_HOST'));
    assert.ok(!names.includes('OP_CONNECT_TOKEN'), 'no shared token in this mode');
    // The default: 1Password's one token, no new flag.
    const shared = container(template('op', 'ops'), 'operator');
    assert.equal(flag(shared.args, 'token-source'), undefined);
    assert.equal(flag(shared.args, 'token-distribution-selector'), undefined);
    assert.equal(flag(shared.args, 'token-secret-name'), undefined);

    // Copies of operator.token into labelled namespaces; with watchNamespace, a Role that reads
    // that one Secret in the release namespace.
    const copying = template('op', 'ops', [
      '--set',
      'operator.tokenCopies.namespaceSelector=op-kube.io/connect-token=copy',
      '--set',
      'operator.watchNamespace={apps}',
    ]);
    const distributor = container(copying, 'operator');
    assert.equal(
      flag(distributor.args, 'token-distribution-selector'),
      'op-kube.io/connect-token=copy',
    );
    assert.equal(flag(distributor.args, 'token-distribution-source'), 'ops/onepassword-token');
    assert.equal(flag(distributor.args, 'token-distribution-source-key'), 'token');
    assert.equal(flag(distributor.args, 'token-secret-name'), 'onepassword-token');
    assert.equal(flag(distributor.args, 'token-source'), undefined);
    const sourceRole = one<V1Role>(copying, 'Role', 'op-op-kube-operator-token-source');
    assert.equal(sourceRole.metadata?.namespace, 'ops');
    assert.deepEqual(sourceRole.rules, [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['onepassword-token'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
    assert.equal(
      find(
        template('op', 'ops', ['--set', 'operator.watchNamespace={apps}']),
        'Role',
        'op-op-kube-operator-token-source',
      ).length,
      0,
    );
    for (const [extra, message] of [
      [['--set', 'operator.namespaceToken.name=team-token'], /injector.tokenSecretName/],
      [['--set', 'operator.authMethod=service-account'], /needs operator.authMethod=connect/],
      [['--set', 'operator.tokenSource=vault'], /tokenSource/],
      [
        [
          '--set',
          'operator.tokenSource=env',
          '--set',
          'operator.tokenCopies.namespaceSelector=a=b',
          '--set',
          'injector.tokenSecretName=other',
        ],
        /injector.tokenSecretName/,
      ],
    ] as const) {
      const result = helm([
        'template',
        'bad',
        CHART_DIR,
        '--set',
        'operator.tokenSource=namespace',
        ...extra,
      ]);
      assert.notEqual(result.status, 0, extra.join(' '));
      assert.match(result.stderr, message);
    }
  });

  it("serves the operator's /metrics secure by default, with the RBAC and ServiceMonitor it needs", () => {
    type Rule = {
      apiGroups?: string[];
      resources?: string[];
      nonResourceURLs?: string[];
      verbs: string[];
    };
    type Role = { metadata: { name: string }; rules: Rule[] };
    type Binding = {
      metadata: { name: string };
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    type Endpoint = Record<string, unknown> & { port: string };
    type Monitor = { spec: { endpoints: Endpoint[] } };
    type Service = {
      spec: { ports: { name: string; appProtocol?: string; targetPort: string }[] };
    };
    const operatorAccount = {
      kind: 'ServiceAccount',
      name: 'sec-op-kube-operator',
      namespace: 'mon',
    };
    // Also with operator.watchNamespace (namespaced Roles): the reviews are cluster-scoped.
    for (const extra of [[], ['--set', 'operator.watchNamespace={apps}']]) {
      const manifests = template('sec', 'mon', ['--set', 'serviceMonitor.enabled=true', ...extra]);
      const operator = container(manifests, 'operator');
      // As 1Password's Deployment: no --metrics-secure flag, so its default (true) applies.
      assert.equal(flag(operator.args, 'metrics-secure'), undefined);
      assert.ok(!operator.args?.includes('--metrics-secure'));

      // The operator creates TokenReviews and SubjectAccessReviews (controller-runtime's
      // metrics_auth_role), bound cluster-wide to its ServiceAccount.
      const auth = one<Role>(manifests, 'ClusterRole', 'sec-op-kube-operator-metrics-auth-mon');
      assert.deepEqual(auth.rules, [
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        {
          apiGroups: ['authorization.k8s.io'],
          resources: ['subjectaccessreviews'],
          verbs: ['create'],
        },
      ]);
      const binding = one<Binding>(
        manifests,
        'ClusterRoleBinding',
        'sec-op-kube-operator-metrics-auth-mon',
      );
      assert.deepEqual(binding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: auth.metadata.name,
      });
      assert.deepEqual(binding.subjects, [operatorAccount]);
      // No other role of the operator grants the reviews (nor anything cluster-scoped beyond it).
      for (const role of [
        ...find<Role>(manifests, 'ClusterRole'),
        ...find<Role>(manifests, 'Role'),
      ]) {
        if (role.metadata.name === auth.metadata.name) continue;
        for (const rule of role.rules) {
          assert.ok(!rule.resources?.includes('tokenreviews'), role.metadata.name);
          assert.ok(!rule.resources?.includes('subjectaccessreviews'), role.metadata.name);
        }
      }
      // What Prometheus's ServiceAccount is to be bound to (controller-runtime's
      // metrics_reader_role); the chart binds no one to it.
      const reader = one<Role>(manifests, 'ClusterRole', 'sec-op-kube-metrics-reader-mon');
      assert.deepEqual(reader.rules, [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
      for (const item of find<Binding>(manifests, 'ClusterRoleBinding')) {
        assert.notEqual(item.roleRef.name, reader.metadata.name);
      }

      const service = one<Service>(manifests, 'Service', 'sec-op-kube-operator-metrics');
      assert.deepEqual(
        service.spec.ports.map(({ name, appProtocol, targetPort }) => ({
          name,
          appProtocol,
          targetPort,
        })),
        [{ name: 'https', appProtocol: 'https', targetPort: 'metrics' }],
      );
      const monitor = one<Monitor>(manifests, 'ServiceMonitor', 'sec-op-kube-operator');
      assert.deepEqual(monitor.spec.endpoints, [
        {
          port: 'https',
          scheme: 'https',
          path: '/metrics',
          interval: '30s',
          bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
          tlsConfig: { insecureSkipVerify: true },
        },
      ]);
    }

    // A token from a Secret instead of Prometheus's own (Prometheus denying file access to
    // ServiceMonitors): the endpoint's authorization field, and no bearerTokenFile.
    const fromSecret = one<Monitor>(
      template('sec', 'mon', [
        '--set',
        'serviceMonitor.enabled=true',
        '--set',
        'serviceMonitor.tokenSecret.name=prometheus-token',
      ]),
      'ServiceMonitor',
      'sec-op-kube-operator',
    );
    const endpoint = fromSecret.spec.endpoints[0];
    assert.deepEqual(endpoint?.authorization, {
      type: 'Bearer',
      credentials: { name: 'prometheus-token', key: 'token' },
    });
    assert.equal(endpoint.bearerTokenFile, undefined);
    assert.deepEqual(endpoint.tlsConfig, { insecureSkipVerify: true });

    // operator.metricsSecure=false: --metrics-secure=false, plain HTTP, no review rights, no reader.
    const plain = template('sec', 'mon', [
      '--set',
      'serviceMonitor.enabled=true',
      '--set',
      'operator.metricsSecure=false',
    ]);
    assert.equal(flag(container(plain, 'operator').args, 'metrics-secure'), 'false');
    const names = plain.map((item) => `${item.kind}/${item.metadata.name}`);
    assert.ok(!names.some((name) => /metrics-(auth|reader)/.test(name)), names.join(' '));
    assert.deepEqual(
      one<Service>(plain, 'Service', 'sec-op-kube-operator-metrics').spec.ports.map(
        (port) => port.name,
      ),
      ['metrics'],
    );
    assert.deepEqual(one<Monitor>(plain, 'ServiceMonitor', 'sec-op-kube-operator').spec.endpoints, [
      { port: 'metrics', path: '/metrics', interval: '30s' },
    ]);
  });

  it('wires the injector to its own per-release objects, with no caBundle in the template', () => {
    const manifests = template('wired', 'inj');
    const configuration = one<V1MutatingWebhookConfiguration>(
      manifests,
      'MutatingWebhookConfiguration',
    );
    const name = configuration.metadata?.name ?? '';
    assert.equal(name, 'wired-op-kube-webhook');
    const webhook = configuration.webhooks?.[0];
    assert.ok(webhook);
    assert.equal(webhook.clientConfig.caBundle, undefined, 'the leader writes caBundle');
    assert.equal(webhook.failurePolicy, 'Fail');
    assert.equal(webhook.clientConfig.service?.namespace, 'inj');
    assert.equal(webhook.clientConfig.service?.port, 443);

    const injector = container(manifests, 'injector');
    assert.equal(flag(injector.args, 'webhook-config-name'), name);
    assert.equal(flag(injector.args, 'tls-mode'), 'self-managed');
    const service = flag(injector.args, 'service-name') ?? '';
    assert.equal(webhook.clientConfig.service?.name, service);
    one(manifests, 'Service', service);
    const tlsSecret = one<V1Secret>(manifests, 'Secret', flag(injector.args, 'tls-secret-name'));
    assert.equal(tlsSecret.type, 'Opaque');
    assert.equal(tlsSecret.data, undefined, 'the TLS Secret is created empty');
    const lease = flag(injector.args, 'lease-name') ?? '';
    one(manifests, 'Lease', lease);
    assert.equal(flag(injector.args, 'namespace'), '$(POD_NAMESPACE)');

    // The webhook's own pods are excluded by the label they carry.
    const podLabels = deployment(manifests, 'injector').spec?.template.metadata?.labels ?? {};
    const exclusion = webhook.objectSelector?.matchExpressions?.[0];
    assert.equal(exclusion?.key, 'app.kubernetes.io/name');
    assert.equal(exclusion?.operator, 'NotIn');
    assert.deepEqual(exclusion?.values, [podLabels['app.kubernetes.io/name']]);

    // RBAC names exactly those objects.
    const role = one<V1Role>(manifests, 'Role', 'wired-op-kube-webhook');
    const byResource = new Map(role.rules?.map((rule) => [rule.resources?.[0], rule]));
    assert.deepEqual(byResource.get('secrets')?.resourceNames, [tlsSecret.metadata?.name]);
    assert.deepEqual(byResource.get('leases')?.resourceNames, [lease]);
    const clusterRoles = find<V1Role>(manifests, 'ClusterRole').filter((item) =>
      item.rules?.some((rule) => rule.resources?.includes('mutatingwebhookconfigurations')),
    );
    assert.equal(clusterRoles.length, 1);
    assert.deepEqual(clusterRoles[0]?.rules?.[0]?.resourceNames, [name]);
  });

  it('uses cert-manager only when asked', () => {
    const manifests = template('cm', 'cm', [
      '--set',
      'injector.tls.mode=cert-manager',
      '--set',
      'injector.failurePolicy=Ignore',
    ]);
    const configuration = one<V1MutatingWebhookConfiguration>(
      manifests,
      'MutatingWebhookConfiguration',
    );
    assert.equal(
      configuration.metadata?.annotations?.['cert-manager.io/inject-ca-from'],
      'cm/cm-op-kube-webhook',
    );
    assert.equal(configuration.webhooks?.[0]?.clientConfig.caBundle, undefined);
    assert.equal(configuration.webhooks?.[0]?.failurePolicy, 'Ignore');
    one(manifests, 'Certificate', 'cm-op-kube-webhook');
    one(manifests, 'Issuer');
    assert.equal(find(manifests, 'Lease').length, 0);
    const injector = container(manifests, 'injector');
    assert.equal(flag(injector.args, 'tls-mode'), 'files');
    assert.ok(injector.volumeMounts?.some((mount) => mount.name === 'tls'));

    const defaults = template('plain', 'plain');
    assert.equal(find(defaults, 'Certificate').length, 0);
    assert.equal(find(defaults, 'Issuer').length, 0);
    assert.equal(
      one<V1MutatingWebhookConfiguration>(defaults, 'MutatingWebhookConfiguration').metadata
        ?.annotations,
      undefined,
    );
  });

  it('reads images for containers without a command only when asked, pull Secrets (cluster-wide get) only when also asked', () => {
    const defaults = container(template('plain', 'plain'), 'injector');
    assert.ok(!defaults.args?.some((arg) => /entrypoints|registry/.test(arg)));
    const pullRole = (manifests: readonly Manifest[]): Manifest[] =>
      find<Manifest>(manifests, 'ClusterRole').filter((role) =>
        role.metadata.name.includes('pull-secrets'),
      );
    const anonymous = template('ep', 'ep', ['--set', 'injector.entrypoints.resolve=true']);
    const args = container(anonymous, 'injector').args ?? [];
    assert.ok(args.includes('--resolve-entrypoints'));
    assert.equal(flag(args, 'registry-timeout'), '2s');
    assert.equal(flag(args, 'registry-failure'), 'deny');
    assert.ok(!args.includes('--registry-pull-secrets'));
    assert.equal(pullRole(anonymous).length, 0, 'no Secret access for public images');
    const withSecrets = template('ep', 'ep', [
      '--set',
      'injector.entrypoints.resolve=true',
      '--set',
      'injector.entrypoints.pullSecrets=true',
      '--set',
      'injector.entrypoints.insecureRegistries={reg.local:5000}',
    ]);
    const secretArgs = container(withSecrets, 'injector').args ?? [];
    assert.ok(secretArgs.includes('--registry-pull-secrets'));
    assert.equal(flag(secretArgs, 'registry-insecure'), 'reg.local:5000');
    const [role] = pullRole(withSecrets);
    assert.deepEqual(role?.rules, [
      { apiGroups: [''], resources: ['secrets', 'serviceaccounts'], verbs: ['get'] },
    ]);
    // A private CA for https registries: a ConfigMap, mounted, its hash rolling the pods.
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const withCa = template('ep', 'ep', [
      '--set',
      'injector.entrypoints.resolve=true',
      '--set-string',
      `injector.entrypoints.caBundle=${pem}`,
    ]);
    const caMap = one<Manifest & { data?: Record<string, string> }>(
      withCa,
      'ConfigMap',
      'ep-op-kube-webhook-registry-ca',
    );
    assert.equal(caMap.data?.['ca.crt']?.trim(), pem.trim());
    const caArgs = container(withCa, 'injector');
    assert.equal(flag(caArgs.args, 'registry-ca-file'), '/etc/op-kube/registry-ca/ca.crt');
    assert.ok(caArgs.volumeMounts?.some((mount) => mount.name === 'registry-ca' && mount.readOnly));
    assert.match(
      deployment(withCa, 'injector').spec?.template.metadata?.annotations?.[
        'op-kube.io/registry-ca-sha256'
      ] ?? '',
      /^[0-9a-f]{64}$/,
    );
    assert.equal(find(anonymous, 'ConfigMap', 'ep-op-kube-webhook-registry-ca').length, 0);
    const pullSecretsOnly = helm([
      'template',
      'ep',
      CHART_DIR,
      '--set',
      'injector.entrypoints.pullSecrets=true',
    ]);
    assert.notEqual(
      pullSecretsOnly.status,
      0,
      'pullSecrets alone would grant Secret access for nothing',
    );
    assert.match(
      pullSecretsOnly.stderr,
      /injector\.entrypoints\.pullSecrets needs injector\.entrypoints\.resolve=true/,
    );
  });

  it('rejects an unknown value with a message naming it', () => {
    const result = helm(['template', 'bad', CHART_DIR, '--set', 'operator.pollingIntervall=5']);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /\/operator.*additional properties 'pollingIntervall' not allowed/);
    const top = helm(['template', 'bad', CHART_DIR, '--set', 'injektor.port=1']);
    assert.notEqual(top.status, 0);
    assert.match(top.stderr, /additional properties 'injektor' not allowed/);
    const wrongType = helm(['template', 'bad', CHART_DIR, '--set', 'injector.failurePolicy=Never']);
    assert.notEqual(wrongType.status, 0);
    assert.match(wrongType.stderr, /failurePolicy/);
  });

  it('stores Connect credentials base64-encoded once', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-kube-chart-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const content = JSON.stringify({ verifier: { salt: 'abc', localHash: 'def' }, version: '2' });
    const file = join(dir, '1password-credentials.json');
    await writeFile(file, content);
    const manifests = template('creds', 'creds', [
      '--set',
      'connect.create=true',
      '--set-file',
      `connect.credentials=${file}`,
    ]);
    const secret = one<V1Secret>(manifests, 'Secret', 'op-credentials');
    const stored = secret.data?.['1password-credentials.json'] ?? '';
    assert.equal(Buffer.from(stored, 'base64').toString('utf8'), content);
    // Connect's in-chart Service becomes the operator's and the injector's host.
    const host = 'http://onepassword-connect.creds.svc:8080';
    const operatorEnv = container(manifests, 'operator').env;
    assert.equal(operatorEnv?.find((item) => item.name === 'OP_CONNECT_HOST')?.value, host);
    assert.equal(flag(container(manifests, 'injector').args, 'connect-host'), host);
    const connect = deployment(manifests, 'connect').spec?.template.spec;
    assert.deepEqual(
      connect?.containers.map((item) => item.name),
      ['connect-api', 'connect-sync'],
    );

    const encoded = Buffer.from(content).toString('base64');
    const given = template('creds', 'creds', [
      '--set',
      'connect.create=true',
      '--set',
      `connect.credentials_base64=${encoded}`,
    ]);
    assert.equal(
      one<V1Secret>(given, 'Secret', 'op-credentials').data?.['1password-credentials.json'],
      encoded,
    );
  });

  it('deploys connect-local only when asked, wired to the token Secret it fills', async () => {
    const defaults = template('cl', 'cl');
    assert.equal(
      find<V1Deployment>(defaults, 'Deployment').filter(
        (item) => item.metadata?.labels?.['app.kubernetes.io/component'] === 'connect-local',
      ).length,
      0,
    );
    assert.equal(find(defaults, 'ConfigMap').length, 0);
    assert.equal(find(defaults, 'Secret', 'onepassword-token').length, 0);

    const manifests = template('cl', 'cl', CONNECT_LOCAL);
    const name = 'cl-op-kube-connect-local';
    const local = container(manifests, 'connect-local');
    assert.deepEqual(local.command, ['node', '/app/bin/op-kube.js', 'connect-local']);
    assert.equal(flag(local.args, 'token-secret'), 'onepassword-token');
    assert.equal(flag(local.args, 'token-secret-key'), 'token');
    assert.deepEqual(
      local.args?.filter((arg) => arg.startsWith('--token-vault=')),
      ['--token-vault=Production,r', '--token-vault=Staging,r'],
    );
    assert.equal(flag(local.args, 'state-dir'), '/tmp/connect-local');
    assert.equal(
      local.env?.find((item) => item.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath,
      'metadata.namespace',
    );
    const pod = deployment(manifests, 'connect-local').spec?.template.spec;
    assert.equal(pod?.serviceAccountName, name);
    // The data file and the files it names, from the chart's copy of examples/.
    const configMap = one<{ data: Record<string, string> }>(manifests, 'ConfigMap', name);
    assert.equal(
      configMap.data['connect-local.yaml'],
      await readFile(join(repoRoot, 'examples', 'connect-local.yaml'), 'utf8'),
    );
    assert.equal(
      configMap.data['files.ca.pem'],
      await readFile(join(repoRoot, 'examples', 'files', 'ca.pem'), 'utf8'),
    );
    const volume = pod?.volumes?.find((item) => item.name === 'data')?.configMap;
    assert.deepEqual(volume?.items?.map((item) => item.path).sort(), [
      'connect-local.yaml',
      'files/ca.pem',
    ]);
    assert.equal(
      flag(local.args, 'data'),
      `${local.volumeMounts?.find((mount) => mount.name === 'data')?.mountPath}/connect-local.yaml`,
    );
    // The token Secret is created empty, and the Role may get and patch that one only.
    const secret = one<V1Secret>(manifests, 'Secret', 'onepassword-token');
    assert.equal(secret.data, undefined);
    const role = one<V1Role>(manifests, 'Role', name);
    assert.deepEqual(role.rules, [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['onepassword-token'],
        verbs: ['get', 'patch'],
      },
    ]);
    one(manifests, 'RoleBinding', name);
    one(manifests, 'NetworkPolicy', name);
    // Its Service is the operator's and the injector's Connect host.
    const service = one<{ spec: { ports: { port: number }[] } }>(manifests, 'Service', name);
    assert.equal(service.spec.ports[0]?.port, 8080);
    const host = `http://${name}.cl.svc:8080`;
    const operatorEnv = container(manifests, 'operator').env;
    assert.equal(operatorEnv?.find((item) => item.name === 'OP_CONNECT_HOST')?.value, host);
    assert.equal(flag(container(manifests, 'injector').args, 'connect-host'), host);

    // Own data and scope.
    const custom = template('cl', 'cl', [
      ...CONNECT_LOCAL,
      '--set',
      'connectLocal.data=vaults: [{name: Dev}]',
      '--set',
      'connectLocal.files.a\\.txt=hello',
      '--set',
      'connectLocal.vaults={Dev}',
      '--set',
      'connect.host=http://elsewhere:8080',
    ]);
    const customMap = one<{ data: Record<string, string> }>(custom, 'ConfigMap', name);
    assert.deepEqual(Object.keys(customMap.data).sort(), ['connect-local.yaml', 'files.a.txt']);
    assert.deepEqual(
      container(custom, 'connect-local').args?.filter((arg) => arg.startsWith('--token-vault=')),
      ['--token-vault=Dev'],
    );
    const customEnv = container(custom, 'operator').env;
    assert.equal(
      customEnv?.find((item) => item.name === 'OP_CONNECT_HOST')?.value,
      'http://elsewhere:8080',
    );

    // Settings that contradict it are refused with a message.
    for (const [extra, message] of [
      [['--set', 'operator.token.value=x'], /leave operator.token.value empty/],
      [['--set', 'connect.create=true', '--set', 'connect.credentials_base64=e30='], /enable one/],
    ] as const) {
      const result = helm(['template', 'bad', CHART_DIR, ...CONNECT_LOCAL, ...extra]);
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, message);
    }
  });

  it('has every pod admitted in a namespace enforcing restricted Pod Security', async (t) => {
    // A server-side dry run of a Deployment only warns; the pods the ReplicaSets create are what
    // the enforce label refuses, so this installs and waits for them (no kubelet runs them here).
    const namespace = await testNamespace(t, 'chart-pss');
    const label = kubectl([
      'label',
      'namespace',
      namespace,
      'pod-security.kubernetes.io/enforce=restricted',
      'pod-security.kubernetes.io/enforce-version=latest',
    ]);
    assert.equal(label.status, 0, label.stderr);
    const release = `pss-${randomBytes(3).toString('hex')}`;
    t.after(() => helm(['uninstall', release, '--namespace', namespace]));
    const install = helm([
      'install',
      release,
      CHART_DIR,
      '--namespace',
      namespace,
      '--skip-crds',
      ...CONNECT_LOCAL,
      '--set',
      'injector.replicas=2',
      // Other tests create pods while this release exists (see the install tests below).
      '--set',
      'injector.failurePolicy=Ignore',
      '--set',
      'injector.timeoutSeconds=1',
    ]);
    assert.equal(install.status, 0, install.stderr);
    // connect-local 1, operator 2 (CONNECT_LOCAL), webhook 2.
    await eventually(
      'five pods created',
      () => {
        const pods = kubectl(['get', 'pods', '-n', namespace, '-o', 'name']);
        if (pods.stdout.trim().split('\n').filter(Boolean).length === 5)
          return Promise.resolve(true);
        const refused = kubectl([
          'get',
          'events',
          '-n',
          namespace,
          '--field-selector',
          'reason=FailedCreate',
          '-o',
          'jsonpath={.items[*].message}',
        ]).stdout;
        assert.doesNotMatch(refused, /violates PodSecurity/, refused);
        return Promise.resolve(undefined);
      },
      { timeoutMs: 30_000 },
    );
  });

  it('has deploy/ rendered from the current chart (npm run render:deploy)', async () => {
    const rendered = await renderDeploy();
    assert.deepEqual((await readdir(DEPLOY_DIR)).sort(), [...rendered.keys()].sort());
    for (const [name, text] of rendered) {
      assert.equal(
        await readFile(join(DEPLOY_DIR, name), 'utf8'),
        text,
        `deploy/${name} is stale: run npm run render:deploy`,
      );
    }
  });

  it('applies crds/ and deploy/ to the apiserver (server-side dry run)', async (t) => {
    // A dry run does not create deploy/'s namespace, so its namespaced objects go to a test
    // namespace instead (the only change: its `namespace: op-kube` lines), leaving op-kube alone.
    const namespace = await testNamespace(t, 'chart-deploy');
    const names = (await readdir(DEPLOY_DIR)).sort();
    const documents: string[] = [];
    for (const name of names) {
      const text = await readFile(join(DEPLOY_DIR, name), 'utf8');
      documents.push(text.replace(/^(\s+namespace: )op-kube$/gm, `$1${namespace}`));
    }
    const crds = kubectl(['apply', '--dry-run=server', '-f', join(repoRoot, 'crds')]);
    assert.equal(crds.status, 0, crds.stderr);
    const result = kubectlWithInput(
      ['apply', '--dry-run=server', '-f', '-'],
      documents.join('\n---\n'),
    );
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /namespace\/op-kube .*\(server dry run\)/);
    assert.match(
      result.stdout,
      /mutatingwebhookconfiguration.*op-kube-webhook.*\(server dry run\)/,
    );
    assert.match(result.stdout, /deployment.apps\/op-kube-operator .*\(server dry run\)/);
  });

  for (const variant of ['plain', 'Connect', 'connect-local'] as const) {
    const withConnect = variant === 'Connect';
    const withConnectLocal = variant === 'connect-local';
    const title = variant === 'plain' ? 'without Connect' : `with ${variant}`;
    it(`installs and uninstalls cleanly ${title}`, async (t) => {
      const namespace = await testNamespace(t, 'chart');
      const release = `chart-${randomBytes(3).toString('hex')}`;
      const dir = await mkdtemp(join(tmpdir(), 'op-kube-chart-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const credentials = join(dir, '1password-credentials.json');
      await writeFile(credentials, '{"verifier":{"salt":"x"}}');
      const args = [
        'install',
        release,
        CHART_DIR,
        '--namespace',
        namespace,
        // The CRD is cluster-wide and other tests manage it; the chart's objects do not need it.
        '--skip-crds',
        ...(withConnectLocal
          ? ['--set', 'connectLocal.enabled=true']
          : ['--set', 'operator.token.value=test-token']),
        // Other tests create pods in labelled namespaces while this release exists: its webhook
        // (no pod runs behind it here) must not refuse them.
        '--set',
        'injector.failurePolicy=Ignore',
        '--set',
        'injector.timeoutSeconds=1',
        '--set',
        'operator.replicas=2',
        ...(withConnect
          ? ['--set', 'connect.create=true', '--set-file', `connect.credentials=${credentials}`]
          : []),
      ];
      let installed = false;
      t.after(() => {
        if (installed) helm(['uninstall', release, '--namespace', namespace]);
      });
      const install = helm(args);
      assert.equal(install.status, 0, install.stderr);
      installed = true;

      const webhookName = `${release}-op-kube-webhook`;
      const got = kubectl(['get', 'mutatingwebhookconfiguration', webhookName, '-o', 'json']);
      assert.equal(got.status, 0, got.stderr);
      const deployments = kubectl(['get', 'deployments', '-n', namespace, '-o', 'name']);
      assert.equal(deployments.status, 0, deployments.stderr);
      const expected = [`${release}-op-kube-operator`, `${release}-op-kube-webhook`];
      // Connect keeps 1Password's name: apps' OP_CONNECT_HOST is http://onepassword-connect:8080.
      if (withConnect) expected.push('onepassword-connect');
      if (withConnectLocal) expected.push(`${release}-op-kube-connect-local`);
      assert.deepEqual(
        deployments.stdout.trim().split('\n').sort(),
        expected.map((name) => `deployment.apps/${name}`).sort(),
      );
      if (withConnect) {
        const secret = kubectl([
          'get',
          'secret',
          'op-credentials',
          '-n',
          namespace,
          '-o',
          'jsonpath={.data.1password-credentials\\.json}',
        ]);
        assert.equal(secret.status, 0, secret.stderr);
        assert.equal(
          Buffer.from(secret.stdout, 'base64').toString('utf8'),
          '{"verifier":{"salt":"x"}}',
        );
      }
      // The injector's Role can do exactly what it needs on its own Secret, and nothing else.
      const serviceAccount = `system:serviceaccount:${namespace}:${release}-op-kube-webhook`;
      const can = (...check: string[]): string =>
        kubectl(['auth', 'can-i', ...check, '-n', namespace, '--as', serviceAccount]).stdout.trim();
      assert.equal(can('patch', `secret/${release}-op-kube-webhook-tls`), 'yes');
      assert.equal(can('get', 'secret/onepassword-token'), 'no');
      assert.equal(can('patch', `mutatingwebhookconfiguration/${webhookName}`), 'yes');
      assert.equal(can('patch', 'mutatingwebhookconfiguration/other'), 'no');
      if (withConnectLocal) {
        // connect-local may read and fill the token Secret, and nothing else.
        const local = `system:serviceaccount:${namespace}:${release}-op-kube-connect-local`;
        const localCan = (...check: string[]): string =>
          kubectl(['auth', 'can-i', ...check, '-n', namespace, '--as', local]).stdout.trim();
        assert.equal(localCan('get', 'secret/onepassword-token'), 'yes');
        assert.equal(localCan('patch', 'secret/onepassword-token'), 'yes');
        assert.equal(localCan('update', 'secret/onepassword-token'), 'no');
        assert.equal(localCan('get', `secret/${release}-op-kube-webhook-tls`), 'no');
        assert.equal(localCan('list', 'secrets'), 'no');
        assert.equal(localCan('create', 'secrets'), 'no');
        const token = kubectl([
          'get',
          'secret',
          'onepassword-token',
          '-n',
          namespace,
          '-o',
          'json',
        ]);
        assert.equal(token.status, 0, token.stderr);
        // Keys only in the message: a failure must not print the token.
        const keys = Object.keys((JSON.parse(token.stdout) as V1Secret).data ?? {});
        assert.deepEqual(
          keys,
          [],
          'the token Secret is created empty (no kubelet runs connect-local)',
        );
      }

      const uninstall = helm(['uninstall', release, '--namespace', namespace, '--wait']);
      assert.equal(uninstall.status, 0, uninstall.stderr);
      installed = false;
      const left = kubectl(['get', 'mutatingwebhookconfigurations', '-o', 'name']);
      assert.equal(left.status, 0, left.stderr);
      assert.ok(!left.stdout.includes(webhookName), `${webhookName} left behind`);
      const clusterRoles = kubectl(['get', 'clusterroles', '-o', 'name']);
      assert.ok(!clusterRoles.stdout.includes(release), 'ClusterRoles left behind');
      const rest = kubectl(['get', 'secrets,leases,roles', '-n', namespace, '-o', 'name']);
      assert.equal(rest.stdout.trim(), '', 'namespaced objects left behind');
      const configMaps = kubectl(['get', 'configmaps', '-n', namespace, '-o', 'name']);
      assert.ok(!configMaps.stdout.includes(release), 'ConfigMaps left behind');
    });
  }
});
