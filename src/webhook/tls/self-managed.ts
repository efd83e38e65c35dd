// Self-managed TLS, the leader's side: a controller keeps the TLS Secret and the webhook configuration's caBundle current.
//
// Level-based, on the shared controller (its one key is the Secret's `namespace/name`, enqueued at
// every start of leadership and by any change of the Secret or the MutatingWebhookConfiguration):
// the reconciler reads the Secret (informer cache) and the configuration, lets the pure planner
// (bundle.ts) say what is due, writes the Secret when a step was taken (optimistic concurrency on
// resourceVersion, so two leaders for a moment cannot interleave), publishes `ca.crt` into every
// webhook's caBundle, and asks to run again at the planner's recheck time. Every replica serves
// what the Secret holds (secret-source.ts).
import type { V1MutatingWebhookConfiguration, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isKubeApiError } from '../../kube/client/api-error.ts';
import { serverSideApply } from '../../kube/client/apply.ts';
import { CONTENT_TYPE, type KubeClient } from '../../kube/client/client.ts';
import type { ReconcileResult, Reconciler } from '../../kube/runtime/controller.ts';
import { resourcePath } from '../../kube/client/resources.ts';
import { INJECTION_NAMESPACE_LABEL, INJECTION_NAMESPACE_LABEL_VALUE } from '../annotations.ts';
import {
  applyPlan,
  caBundleOf,
  reconcileTlsBundle,
  tlsBundleFromSecretData,
  tlsBundleToSecretData,
  type StoredTlsBundle,
} from './bundle.ts';
import type { RotationOptions } from './rotation-settings.ts';

/** Set it (to any new value, e.g. a timestamp) on the TLS Secret to have the leader rotate the CA. */
export const ROTATE_CA_ANNOTATION = 'op-kube.io/rotate-ca';
/** The leader records here the rotate-ca value it has acted on. */
export const ROTATED_CA_ANNOTATION = 'op-kube.io/rotated-ca';
const FIELD_MANAGER = 'op-kube-webhook';
/** Even with nothing due, look again this often: a lost watch event or clock step costs at most this. */
const MAX_RECHECK_MS = 10 * 60_000;
const RETRY_MS = 5_000;

export interface WebhookRegistration {
  /** `--register-url`: the leader applies the whole configuration, calling this URL. */
  readonly url: URL;
  readonly failurePolicy: 'Fail' | 'Ignore';
}

function decodeCaBundle(value: string | undefined): string | undefined {
  return value === undefined || value === ''
    ? undefined
    : Buffer.from(value, 'base64').toString('utf8');
}

/** The MutatingWebhookConfiguration `--register-url` creates. */
export function registeredConfiguration(
  name: string,
  registration: WebhookRegistration,
  caBundle: string,
): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'op-kube' } },
    webhooks: [
      {
        name: 'secrets-injector.1password.com',
        clientConfig: { url: registration.url.toString(), caBundle },
        admissionReviewVersions: ['v1', 'v1beta1'],
        sideEffects: 'None',
        failurePolicy: registration.failurePolicy,
        timeoutSeconds: 10,
        reinvocationPolicy: 'IfNeeded',
        matchPolicy: 'Equivalent',
        namespaceSelector: {
          matchLabels: { [INJECTION_NAMESPACE_LABEL]: INJECTION_NAMESPACE_LABEL_VALUE },
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
          ],
        },
        objectSelector: {
          matchExpressions: [
            { key: 'app.kubernetes.io/name', operator: 'NotIn', values: ['op-kube-webhook'] },
          ],
        },
        // Only CREATE: a pod's containers cannot change afterwards, and with failurePolicy Fail an
        // UPDATE hook would let a webhook outage block label edits and finalizer removal.
        rules: [
          {
            operations: ['CREATE'],
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['pods'],
            scope: 'Namespaced',
          },
        ],
      },
    ],
  };
}

/** Where the reconciler reads the TLS Secret: the informer's cache. */
export interface SecretLister {
  get(namespace: string, name: string): V1Secret | undefined;
}

export interface TlsBundleReconcilerOptions {
  readonly client: KubeClient;
  readonly secrets: SecretLister;
  readonly namespace: string;
  readonly secretName: string;
  readonly webhookConfigName: string;
  readonly rotation: Omit<RotationOptions, 'now' | 'publishedCaBundle'>;
  readonly register?: WebhookRegistration;
  /** True once the process is shutting down: a registration is not (re)created then. */
  readonly leaving?: () => boolean;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/**
 * The leader's certificate work for its one key. Errors are logged and retried after RETRY_MS,
 * not with the controller's backoff: a leader that cannot reach the apiserver loses its Lease anyway.
 */
export class TlsBundleReconciler implements Reconciler {
  readonly #options: TlsBundleReconcilerOptions;

  constructor(options: TlsBundleReconcilerOptions) {
    this.#options = options;
  }

  async reconcile(): Promise<ReconcileResult> {
    try {
      return { requeueAfterMs: await this.#reconcile() };
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'could not reconcile the webhook TLS');
      return { requeueAfterMs: RETRY_MS };
    }
  }

  /** One pass; resolves to how long to wait before the next. */
  async #reconcile(): Promise<number> {
    const { namespace, secretName, logger } = this.#options;
    const now = (this.#options.now ?? (() => new Date()))();
    const secret = this.#options.secrets.get(namespace, secretName);
    const configuration = await this.#readConfiguration();
    const published = decodeCaBundle(configuration?.webhooks?.[0]?.clientConfig?.caBundle);
    const options: RotationOptions = {
      ...this.#options.rotation,
      now,
      ...(published !== undefined ? { publishedCaBundle: published } : {}),
    };
    let current: Partial<StoredTlsBundle> | undefined = secret
      ? tlsBundleFromSecretData(secret.data)
      : undefined;
    const requested = secret?.metadata?.annotations?.[ROTATE_CA_ANNOTATION];
    const acted = secret?.metadata?.annotations?.[ROTATED_CA_ANNOTATION];
    const rotateRequested = requested !== undefined && requested !== '' && requested !== acted;
    const steps: string[] = [];
    if (rotateRequested && current !== undefined) {
      current = await applyPlan(
        current,
        {
          action: 'rotate-ca',
          reason: 'Requested',
          message: `${ROTATE_CA_ANNOTATION} set to ${requested}`,
          changesCaBundle: true,
        },
        options,
      );
      steps.push(`rotate-ca (Requested: ${ROTATE_CA_ANNOTATION}=${requested})`);
    }
    const result = await reconcileTlsBundle(current, options);
    steps.push(...result.steps.map((step) => `${step.action} (${step.reason}: ${step.message})`));
    if (steps.length > 0) {
      await this.#writeSecret(secret, result.bundle, rotateRequested ? requested : undefined);
      logger.info({ secret: `${namespace}/${secretName}`, steps }, 'webhook TLS updated');
    }
    await this.#publish(configuration, caBundleOf(result.bundle));
    const untilRecheck = result.recheckAt.getTime() - now.getTime();
    if (result.waitingFor !== undefined)
      logger.debug({ waitingFor: result.waitingFor }, 'CA rotation waits');
    return Math.max(1_000, Math.min(untilRecheck, MAX_RECHECK_MS));
  }

  async #readConfiguration(): Promise<V1MutatingWebhookConfiguration | undefined> {
    const { client, webhookConfigName } = this.#options;
    try {
      return await client.request<V1MutatingWebhookConfiguration>({
        method: 'GET',
        path: resourcePath({
          apiVersion: 'admissionregistration.k8s.io/v1',
          plural: 'mutatingwebhookconfigurations',
          name: webhookConfigName,
        }),
        operation: `get MutatingWebhookConfiguration ${webhookConfigName}`,
      });
    } catch (error) {
      if (isKubeApiError(error, 404)) return undefined;
      throw error;
    }
  }

  async #writeSecret(
    existing: V1Secret | undefined,
    bundle: StoredTlsBundle,
    rotated: string | undefined,
  ): Promise<void> {
    const { client, namespace, secretName } = this.#options;
    const path = resourcePath({
      apiVersion: 'v1',
      plural: 'secrets',
      namespace,
      name: existing ? secretName : undefined,
    });
    const annotations = {
      ...existing?.metadata?.annotations,
      ...(rotated !== undefined ? { [ROTATED_CA_ANNOTATION]: rotated } : {}),
    };
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: existing?.type ?? 'Opaque',
      metadata: {
        ...(existing?.metadata ?? {}),
        name: secretName,
        namespace,
        annotations,
        // A field-set-free copy from the cache must not be sent back.
        managedFields: undefined,
      },
      data: { ...existing?.data, ...tlsBundleToSecretData(bundle) },
    };
    // PUT with the cached resourceVersion: a conflict means someone wrote since, and the next pass
    // plans from their write.
    await client.request({
      method: existing ? 'PUT' : 'POST',
      path,
      body,
      operation: `${existing ? 'update' : 'create'} Secret ${namespace}/${secretName}`,
    });
  }

  async #publish(
    configuration: V1MutatingWebhookConfiguration | undefined,
    caBundle: string,
  ): Promise<void> {
    const { client, webhookConfigName, register, leaving, logger } = this.#options;
    if (register !== undefined) {
      if (leaving?.() === true) return;
      await serverSideApply(
        client,
        registeredConfiguration(webhookConfigName, register, caBundle),
        {
          fieldManager: FIELD_MANAGER,
          force: true,
        },
      );
      return;
    }
    if (configuration === undefined) {
      logger.warn(
        { webhookConfiguration: webhookConfigName },
        'the MutatingWebhookConfiguration does not exist yet; its caBundle is published once it does',
      );
      return;
    }
    const patch = (configuration.webhooks ?? []).flatMap((webhook, index) =>
      webhook.clientConfig.caBundle === caBundle
        ? []
        : [
            { op: 'test', path: `/webhooks/${index}/name`, value: webhook.name },
            { op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: caBundle },
          ],
    );
    if (patch.length === 0) return;
    await client.request({
      method: 'PATCH',
      path: resourcePath({
        apiVersion: 'admissionregistration.k8s.io/v1',
        plural: 'mutatingwebhookconfigurations',
        name: webhookConfigName,
      }),
      body: patch,
      contentType: CONTENT_TYPE.jsonPatch,
      operation: `publish caBundle in MutatingWebhookConfiguration ${webhookConfigName}`,
    });
    logger.info({ webhookConfiguration: webhookConfigName }, 'caBundle published');
  }
}

/** Register mode: removes the configuration this process created. */
export async function unregister(client: KubeClient, webhookConfigName: string): Promise<void> {
  await client
    .request({
      method: 'DELETE',
      path: resourcePath({
        apiVersion: 'admissionregistration.k8s.io/v1',
        plural: 'mutatingwebhookconfigurations',
        name: webhookConfigName,
      }),
      operation: `delete MutatingWebhookConfiguration ${webhookConfigName}`,
    })
    .catch((error: unknown) => {
      if (!isKubeApiError(error, 404)) throw error;
    });
}
