// A stand-in for 1Password's secrets injector (kubernetes-secrets-injector 1.0.x), for migration
// tests: an HTTPS admission webhook on loopback answering with the JSON patch 1Password's
// pkg/webhook/webhook.go builds, op for op (facts read from its source, written here in TS). It
// leaves in a cluster the pods 1Password's injector leaves, so a test can compare them with what
// op-kube's webhook makes of the same pod after the switch. 1Password's flaws are kept on purpose
// (init containers patched at the container index, copy-op-bin last, no securityContext).
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type {
  V1Container,
  V1EnvVar,
  V1MutatingWebhookConfiguration,
  V1Pod,
  AdmissionregistrationV1WebhookClientConfig,
} from '@kubernetes/client-node';
import {
  generateCertificateAuthority,
  issueServingCertificate,
} from '../../src/webhook/tls/certificates.ts';

interface PatchOperation {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: unknown;
}

const BIN_PATH = '/op/bin/';
const STATUS = 'operator.1password.io/status';
const INJECT = 'operator.1password.io/inject';
const VERSION = 'operator.1password.io/version';

/** utils.MakeBuildVersion of 1Password's injector: "1.0.1" → "1000101". */
export function onePasswordBuildNumber(version: string): string {
  const parts = version.replaceAll('-beta', '').split('.');
  let build = parts[0] ?? '';
  for (const part of parts.slice(1)) build += part.length === 1 ? `0${part}` : part;
  return parts.length === 3 ? `${build}01` : build;
}

export const ONEPASSWORD_INJECTOR_VERSION = '1.0.1';

/** Adds `added` one op at a time, the first as a one-element array when the list is empty. */
function appendOps(
  path: string,
  existing: unknown[] | undefined,
  added: unknown[],
): PatchOperation[] {
  let first = (existing?.length ?? 0) === 0;
  return added.map((value) => {
    if (first) {
      first = false;
      return { op: 'add', path, value: [value] };
    }
    return { op: 'add', path: `${path}/-`, value };
  });
}

function containerOps(container: V1Container, index: number): PatchOperation[] | string {
  if (!container.command?.length) {
    return `not attaching OP to the container ${container.name}: the podspec does not define a command`;
  }
  const base = `/spec/containers/${index}`;
  const integration: V1EnvVar[] = [
    { name: 'OP_INTEGRATION_NAME', value: '1Password Kubernetes Webhook' },
    { name: 'OP_INTEGRATION_ID', value: 'K8W' },
    {
      name: 'OP_INTEGRATION_BUILDNUMBER',
      value: onePasswordBuildNumber(ONEPASSWORD_INJECTOR_VERSION),
    },
  ];
  return [
    {
      op: 'add',
      path: `${base}/volumeMounts`,
      value: [
        ...(container.volumeMounts ?? []),
        { name: 'op-bin', mountPath: BIN_PATH, readOnly: true },
      ],
    },
    {
      op: 'replace',
      path: `${base}/command`,
      value: [`${BIN_PATH}op`, 'run', '--', ...container.command],
    },
    ...appendOps(`${base}/env`, container.env, integration),
  ];
}

/** The patch 1Password's injector answers for `pod`, undefined when it lets it through, or its denial. */
export function onePasswordPatch(pod: V1Pod): PatchOperation[] | undefined | { denied: string } {
  const annotations = pod.metadata?.annotations ?? {};
  if ((annotations[STATUS] ?? '').toLowerCase() === 'injected' || !(INJECT in annotations)) {
    return undefined;
  }
  const listed = new Set((annotations[INJECT] ?? '').split(','));
  if (annotations[INJECT] === '') return undefined;
  const version = annotations[VERSION] ?? '2';
  const ops: PatchOperation[] = [];
  let mutated = false;
  const groups = [pod.spec?.initContainers ?? [], pod.spec?.containers ?? []];
  for (const group of groups) {
    for (const [index, container] of group.entries()) {
      if (!listed.has(container.name)) continue;
      const result = containerOps(container, index);
      if (typeof result === 'string') return { denied: result };
      ops.push(...result);
      mutated = true;
    }
  }
  if (!mutated) return undefined;
  const copy = {
    name: 'copy-op-bin',
    image: `1password/op:${version}`,
    command: ['sh', '-c', `cp /usr/local/bin/op ${BIN_PATH}`],
    resources: {},
    volumeMounts: [{ name: 'op-bin', mountPath: BIN_PATH }],
    imagePullPolicy: 'IfNotPresent',
  };
  ops.push(
    ...appendOps('/spec/volumes', pod.spec?.volumes, [
      { name: 'op-bin', emptyDir: { medium: 'Memory' } },
    ]),
    ...appendOps('/spec/initContainers', pod.spec?.initContainers, [copy]),
  );
  ops.push(
    Object.keys(annotations).length === 0
      ? { op: 'add', path: '/metadata/annotations', value: { [STATUS]: 'injected' } }
      : {
          op: STATUS in annotations ? 'replace' : 'add',
          path: `/metadata/annotations/${STATUS.replaceAll('~', '~0').replaceAll('/', '~1')}`,
          value: 'injected',
        },
  );
  return ops;
}

export interface OnePasswordInjector {
  /** The URL to register in the webhook configuration (…/inject). */
  readonly url: string;
  /** PEM of the CA that signed the serving certificate, for `caBundle`. */
  readonly caPem: string;
  /** How many reviews it answered with a patch. */
  patched(): number;
  stop(): Promise<void>;
}

interface Review {
  request?: { uid?: string; object?: V1Pod };
}

export async function startOnePasswordInjector(): Promise<OnePasswordInjector> {
  const now = new Date();
  const day = 86_400_000;
  const ca = await generateCertificateAuthority({
    now,
    validityMs: day,
    commonName: 'onepassword-injector-stand-in',
  });
  const serving = await issueServingCertificate(ca, {
    dnsNames: ['secrets-injector'],
    ipAddresses: ['127.0.0.1'],
    now,
    validityMs: day,
  });
  let patched = 0;
  const server: Server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
      const pod = review.request?.object ?? {};
      const result = onePasswordPatch(pod);
      const response: Record<string, unknown> = { uid: review.request?.uid, allowed: true };
      if (result !== undefined && 'denied' in result) {
        response.allowed = false;
        response.status = { message: result.denied };
      } else if (result !== undefined) {
        patched += 1;
        response.patchType = 'JSONPatch';
        response.patch = Buffer.from(JSON.stringify(result)).toString('base64');
      }
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/inject`,
    caPem: ca.cert,
    patched: () => patched,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * `secrets-injector-webhook-config` as 1Password's injector writes it (k8s_client.go), with the
 * `clientConfig` given: the oracle the tests hold op-kube's `--tls-mode=onepassword` to, and the
 * configuration a migrating cluster still has.
 */
export function onePasswordWebhookConfiguration(
  clientConfig: AdmissionregistrationV1WebhookClientConfig,
): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'secrets-injector-webhook-config' },
    webhooks: [
      {
        name: 'secrets-injector.1password.com',
        admissionReviewVersions: ['v1', 'v1beta1'],
        sideEffects: 'None',
        clientConfig,
        rules: [
          {
            operations: ['CREATE', 'UPDATE'],
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['pods'],
          },
        ],
        namespaceSelector: { matchLabels: { 'secrets-injection': 'enabled' } },
        failurePolicy: 'Fail',
      },
    ],
  };
}
