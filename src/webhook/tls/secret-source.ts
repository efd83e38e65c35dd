// `--tls-mode=self-managed`, every replica's side: serve the certificate in the TLS Secret (the leader keeps it current, self-managed.ts).
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { EventSource } from '../../kube/runtime/builder.ts';
import { tlsBundleFromSecretData } from './bundle.ts';
import {
  generateCertificateAuthority,
  issueServingCertificate,
  type PemKeyPair,
} from './certificates.ts';
import { validateKeyPair } from '../../util/tls-files.ts';
import type { CertificateListener, TlsSource } from './source.ts';

const PLACEHOLDER_VALIDITY_MS = 86_400_000;

export interface SecretTlsOptions {
  /** The TLS Secret's informer (a cache of the manager). */
  readonly secrets: EventSource<V1Secret>;
  readonly namespace: string;
  readonly secretName: string;
  readonly logger: Logger;
}

/**
 * A certificate nobody trusts, so the listener (and its /healthz, which the kubelet probes without
 * verifying) is up while a replica waits for the leader's first certificate; /readyz says not ready
 * until then, so no Service routes admission requests to it.
 */
async function placeholderCertificate(): Promise<PemKeyPair> {
  const now = new Date();
  const ca = await generateCertificateAuthority({
    now,
    validityMs: PLACEHOLDER_VALIDITY_MS,
    commonName: 'op-kube-placeholder',
  });
  return issueServingCertificate(ca, {
    dnsNames: ['op-kube-placeholder'],
    now,
    validityMs: PLACEHOLDER_VALIDITY_MS,
  });
}

export class SecretTls implements TlsSource {
  readonly initial: PemKeyPair;
  readonly #options: SecretTlsOptions;
  readonly #listeners: CertificateListener[] = [];
  /** The certificate served from the Secret; undefined while the placeholder is. */
  #served: string | undefined;

  /** Listens with a placeholder until the Secret holds a valid pair. */
  static async create(options: SecretTlsOptions): Promise<SecretTls> {
    return new SecretTls(options, await placeholderCertificate());
  }

  private constructor(options: SecretTlsOptions, initial: PemKeyPair) {
    this.#options = options;
    this.initial = initial;
    options.secrets.onAdd((secret) => this.#serve(secret));
    options.secrets.onUpdate((_previous, secret) => this.#serve(secret));
  }

  onCertificate(listener: CertificateListener): void {
    this.#listeners.push(listener);
  }

  /** An unusable Secret is logged, not counted as a failed reload: the leader replaces it. */
  onReloadFailed(): void {}

  notReady(): string | undefined {
    const { namespace, secretName } = this.#options;
    return this.#served === undefined
      ? `waiting for the serving certificate in Secret ${namespace}/${secretName}`
      : undefined;
  }

  /** The Secret's informer is the manager's cache: nothing else to start or stop. */
  start(): void {}

  stop(): Promise<void> {
    return Promise.resolve();
  }

  #serve(secret: V1Secret): void {
    const { namespace, secretName, logger } = this.#options;
    const bundle = tlsBundleFromSecretData(secret.data);
    const cert = bundle['tls.crt'];
    const key = bundle['tls.key'];
    if (cert === undefined || key === undefined || cert === this.#served) return;
    const source = `Secret ${namespace}/${secretName}`;
    try {
      validateKeyPair({ cert, key }, source);
    } catch (error) {
      logger.warn({ err: error }, 'the TLS Secret holds no usable serving certificate yet');
      return;
    }
    this.#served = cert;
    for (const listener of this.#listeners) listener({ cert, key }, source);
  }
}
