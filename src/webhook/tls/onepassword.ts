// `--tls-mode=onepassword`: 1Password's injector's TLS, for its manifests run unchanged with op-kube's image.
//
// As 1Password's injector does (its cmd/main.go and pkg/webhook/k8s_client.go): a CA and a serving
// certificate made in memory at start, never stored, and the MutatingWebhookConfiguration
// `secrets-injector-webhook-config` created or replaced with 1Password's spec and that CA as its
// caBundle. The only API calls are on that one configuration (get, create, update, delete), which
// is all 1Password's ClusterRole grants: no Secret, no Lease.
//
// 1Password's design flaw, kept for compatibility: every replica makes its own CA and writes its
// own caBundle, so with more than one replica the last to start wins and the apiserver refuses the
// certificates of the others (failurePolicy Fail: pod creations fail whenever the Service picks
// one). op-kube's self-managed mode (one CA in a Secret, a Lease-elected writer) has no such flaw.
//
// Two differences, both safer: the CA outlives the serving certificate (5 years against 1), so
// the serving certificate is re-issued in memory before it expires without touching the
// configuration (1Password's expires after a year of uptime); and on shutdown the configuration is
// deleted (what 1Password's /prestop.sh does) only while it still carries this process's CA, so a
// rolling update's old pod no longer removes the configuration its successor just wrote.
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isKubeApiError } from '../../kube/client/api-error.ts';
import type { KubeClient } from '../../kube/client/client.ts';
import { resourcePath } from '../../kube/client/resources.ts';
import {
  describeCertificate,
  generateCertificateAuthority,
  issueServingCertificate,
  servingNames,
  type PemKeyPair,
} from './certificates.ts';
import {
  ONEPASSWORD_WEBHOOK_CONFIG_NAME,
  caBundleOfConfiguration,
  onePasswordWebhookConfiguration,
} from './onepassword-spec.ts';
import type { CertificateListener, TlsSource } from './source.ts';

const DAY_MS = 86_400_000;
/** 1Password's serving certificate lives a year; so does op-kube's here. */
export const ONEPASSWORD_CERT_VALIDITY_MS = 365 * DAY_MS;
const CA_VALIDITY_MS = 5 * ONEPASSWORD_CERT_VALIDITY_MS;
/** A new serving certificate (same CA) this long before the current one expires. */
const REISSUE_BEFORE_MS = 30 * DAY_MS;
/** How often the serving certificate's expiry is looked at (timers cannot wait a year). */
const EXPIRY_CHECK_MS = 60 * 60_000;
const PUBLISH_RETRY_MIN_MS = 1_000;
const PUBLISH_RETRY_MAX_MS = 30_000;

/**
 * The names 1Password's certificate carries (`<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, its subject
 * CN being the last), and `.cluster.local`; the CN first, as certificates.ts takes the first.
 */
export function onePasswordServingNames(serviceName: string, namespace: string): string[] {
  const { dnsNames } = servingNames({ service: serviceName, namespace });
  const commonName = `${dnsNames[0] ?? serviceName}.${namespace}.svc`.toLowerCase();
  return [commonName, ...dnsNames.filter((name) => name !== commonName)];
}

/**
 * Creates the configuration, or replaces its webhooks with `desired`'s (1Password's Update);
 * labels and annotations of an existing one are kept (1Password's Update drops them). Retries a
 * create or update that lost a race.
 */
export async function publishConfiguration(
  client: KubeClient,
  desired: V1MutatingWebhookConfiguration,
): Promise<'created' | 'updated'> {
  const name = desired.metadata?.name ?? ONEPASSWORD_WEBHOOK_CONFIG_NAME;
  const path = resourcePath({
    apiVersion: 'admissionregistration.k8s.io/v1',
    plural: 'mutatingwebhookconfigurations',
    name,
  });
  for (let attempt = 0; ; attempt += 1) {
    const existing = await getConfiguration(client, path, name);
    try {
      if (existing === undefined) {
        await client.request({
          method: 'POST',
          path: resourcePath({
            apiVersion: 'admissionregistration.k8s.io/v1',
            plural: 'mutatingwebhookconfigurations',
          }),
          body: desired,
          operation: `create MutatingWebhookConfiguration ${name}`,
        });
        return 'created';
      }
      const metadata = existing.metadata ?? {};
      await client.request({
        method: 'PUT',
        path,
        body: {
          ...desired,
          metadata: {
            name,
            resourceVersion: metadata.resourceVersion,
            ...(metadata.labels ? { labels: metadata.labels } : {}),
            ...(metadata.annotations ? { annotations: metadata.annotations } : {}),
          },
        },
        operation: `update MutatingWebhookConfiguration ${name}`,
      });
      return 'updated';
    } catch (error) {
      // Created or changed by someone else between the read and the write: read again.
      if (attempt < 5 && isKubeApiError(error, 409)) continue;
      throw error;
    }
  }
}

/**
 * Deletes the configuration if it still carries `caPem`, with its resourceVersion as the
 * precondition; one written since by another replica stays. Resolves to whether it was deleted.
 */
export async function deleteConfigurationIfOurs(
  client: KubeClient,
  name: string,
  caPem: string,
): Promise<boolean> {
  const path = resourcePath({
    apiVersion: 'admissionregistration.k8s.io/v1',
    plural: 'mutatingwebhookconfigurations',
    name,
  });
  const existing = await getConfiguration(client, path, name);
  if (existing === undefined || caBundleOfConfiguration(existing) !== caPem) return false;
  try {
    await client.request({
      method: 'DELETE',
      path,
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { resourceVersion: existing.metadata?.resourceVersion },
      },
      operation: `delete MutatingWebhookConfiguration ${name}`,
    });
    return true;
  } catch (error) {
    // Gone already, or rewritten since the read (a 409 on the precondition): not ours to remove.
    if (isKubeApiError(error, 404, 409)) return false;
    throw error;
  }
}

export interface OnePasswordTlsOptions {
  readonly client: KubeClient;
  readonly serviceName: string;
  readonly namespace: string;
  readonly webhookConfigName: string;
  readonly logger: Logger;
  /** Tests: the clock. */
  readonly now?: () => Date;
}

/**
 * Serves an in-memory certificate from an in-memory CA, and publishes that CA in 1Password's
 * configuration when started (retrying until it succeeds; not ready until then).
 */
export class OnePasswordTls implements TlsSource {
  readonly initial: PemKeyPair;
  readonly #options: OnePasswordTlsOptions;
  readonly #ca: PemKeyPair;
  readonly #listeners: CertificateListener[] = [];
  #serving: PemKeyPair;
  #published = false;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;
  #expiryCheck: NodeJS.Timeout | undefined;

  static async create(options: OnePasswordTlsOptions): Promise<OnePasswordTls> {
    const now = (options.now ?? (() => new Date()))();
    const ca = await generateCertificateAuthority({
      now,
      validityMs: CA_VALIDITY_MS,
      commonName: `op-kube-onepassword-ca-${now.getTime()}`,
    });
    const serving = await issueServingCertificate(ca, {
      dnsNames: onePasswordServingNames(options.serviceName, options.namespace),
      now,
      validityMs: ONEPASSWORD_CERT_VALIDITY_MS,
    });
    return new OnePasswordTls(options, ca, serving);
  }

  private constructor(options: OnePasswordTlsOptions, ca: PemKeyPair, serving: PemKeyPair) {
    this.#options = options;
    this.#ca = ca;
    this.initial = serving;
    this.#serving = serving;
  }

  /** The CA's PEM: what the configuration's caBundle carries once published. */
  get caPem(): string {
    return this.#ca.cert;
  }

  onCertificate(listener: CertificateListener): void {
    this.#listeners.push(listener);
  }

  /** Nothing is reloaded from outside. */
  onReloadFailed(): void {}

  notReady(): string | undefined {
    return this.#published
      ? undefined
      : `publishing the caBundle in MutatingWebhookConfiguration ${this.#options.webhookConfigName}`;
  }

  start(): void {
    this.#emit(this.#serving);
    void this.#publish(PUBLISH_RETRY_MIN_MS);
    this.#expiryCheck = setInterval(() => void this.#renewIfDue(), EXPIRY_CHECK_MS);
    this.#expiryCheck.unref();
  }

  /** As 1Password's /prestop.sh, but only while the configuration still carries this CA. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearInterval(this.#expiryCheck);
    const { client, webhookConfigName, logger } = this.#options;
    if (!this.#published) return;
    try {
      const deleted = await deleteConfigurationIfOurs(client, webhookConfigName, this.#ca.cert);
      logger.info(
        { webhookConfiguration: webhookConfigName, deleted },
        deleted
          ? 'webhook configuration removed on shutdown'
          : 'webhook configuration left in place: another replica has written it since',
      );
    } catch (error) {
      logger.warn({ err: error }, 'could not remove the webhook configuration on shutdown');
    }
  }

  async #publish(delayMs: number): Promise<void> {
    const { client, serviceName, namespace, webhookConfigName, logger } = this.#options;
    try {
      const result = await publishConfiguration(
        client,
        onePasswordWebhookConfiguration({
          name: webhookConfigName,
          serviceName,
          namespace,
          caPem: this.#ca.cert,
        }),
      );
      if (this.#stopped) return;
      this.#published = true;
      logger.info(
        { webhookConfiguration: webhookConfigName, result },
        'caBundle published (1Password mode: each replica publishes its own CA; run one replica)',
      );
    } catch (error) {
      if (this.#stopped) return;
      logger.warn(
        { err: error, retryInMs: delayMs, webhookConfiguration: webhookConfigName },
        'could not create or update the webhook configuration',
      );
      this.#retry = setTimeout(
        () => void this.#publish(Math.min(delayMs * 2, PUBLISH_RETRY_MAX_MS)),
        delayMs,
      );
    }
  }

  async #renewIfDue(): Promise<void> {
    const now = (this.#options.now ?? (() => new Date()))();
    const { notAfter } = describeCertificate(this.#serving.cert);
    if (notAfter.getTime() - now.getTime() > REISSUE_BEFORE_MS) return;
    try {
      this.#serving = await issueServingCertificate(this.#ca, {
        dnsNames: onePasswordServingNames(this.#options.serviceName, this.#options.namespace),
        now,
        validityMs: ONEPASSWORD_CERT_VALIDITY_MS,
      });
      if (!this.#stopped) this.#emit(this.#serving);
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'could not re-issue the serving certificate');
    }
  }

  #emit(pair: PemKeyPair): void {
    for (const listener of this.#listeners) listener(pair, 'in memory (1Password mode)');
  }
}

/** The configuration as stored, or undefined when there is none. */
function getConfiguration(
  client: KubeClient,
  path: string,
  name: string,
): Promise<V1MutatingWebhookConfiguration | undefined> {
  return client
    .request<V1MutatingWebhookConfiguration>({
      method: 'GET',
      path,
      operation: `get MutatingWebhookConfiguration ${name}`,
    })
    .catch((error: unknown) => {
      if (isKubeApiError(error, 404)) return undefined;
      throw error;
    });
}
