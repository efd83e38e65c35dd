// Builds the entrypoint resolution --resolve-entrypoints asks for: registry client, caches, and (with --registry-pull-secrets) the apiserver reads of pull Secrets.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { getCACertificates } from 'node:tls';
import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isKubeApiError } from '../../kube/client/api-error.ts';
import type { KubeClient } from '../../kube/client/client.ts';
import { WebhookSettingError, type EntrypointConfig } from '../config.ts';
import { splitPemCertificates } from '../tls/certificates.ts';
import type { WebhookMetrics } from '../metrics.ts';
import { RegistryClient } from './client.ts';
import { EntrypointResolution, type PullSecretReader } from './entrypoints.ts';
import { ImageResolver } from './resolver.ts';

/** A digest's command cannot change; an hour bounds how long a revoked pull Secret still counts. */
export const DIGEST_TTL_MS = 60 * 60 * 1000;

/** Reads through the apiserver; a 404 is "not there", anything else fails the read. */
export function kubePullSecretReader(kube: KubeClient): PullSecretReader {
  const get = async <T>(path: string, signal: AbortSignal): Promise<T | undefined> => {
    try {
      return await kube.request<T>({ method: 'GET', path, signal });
    } catch (error) {
      if (isKubeApiError(error, 404)) return undefined;
      throw error;
    }
  };
  const segment = encodeURIComponent;
  return {
    async serviceAccountPullSecrets(namespace, name, signal) {
      const account = await get<V1ServiceAccount>(
        `/api/v1/namespaces/${segment(namespace)}/serviceaccounts/${segment(name)}`,
        signal,
      );
      if (!account) return undefined;
      return (account.imagePullSecrets ?? [])
        .map((reference) => reference.name)
        .filter((entry): entry is string => typeof entry === 'string' && entry !== '');
    },
    async secret(namespace, name, signal) {
      const secret = await get<V1Secret>(
        `/api/v1/namespaces/${segment(namespace)}/secrets/${segment(name)}`,
        signal,
      );
      return secret
        ? {
            ...(secret.type ? { type: secret.type } : {}),
            ...(secret.data ? { data: secret.data } : {}),
          }
        : undefined;
    },
  };
}

/**
 * The CAs for https registries with --registry-ca-file: Node's default set (its bundle,
 * NODE_EXTRA_CA_CERTS, the system's with --use-system-ca) plus the file's certificates.
 * @throws WebhookSettingError naming the flag
 */
export function registryCertificates(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new WebhookSettingError('--registry-ca-file', `cannot read ${JSON.stringify(file)}`, {
      cause: error,
    });
  }
  const extra = splitPemCertificates(text);
  for (const pem of extra) {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new WebhookSettingError(
        '--registry-ca-file',
        `${JSON.stringify(file)} holds a certificate that does not parse`,
        { cause: error },
      );
    }
  }
  if (extra.length === 0) {
    throw new WebhookSettingError(
      '--registry-ca-file',
      `${JSON.stringify(file)} holds no PEM certificate`,
    );
  }
  return [...getCACertificates('default'), ...extra];
}

export function entrypointResolution(options: {
  readonly config: EntrypointConfig;
  readonly kube: KubeClient | undefined;
  readonly metrics: WebhookMetrics;
  readonly logger: Logger;
  readonly userAgent: string;
}): EntrypointResolution {
  const { config, kube, metrics, logger } = options;
  const client = new RegistryClient({
    insecure: config.insecure,
    allowInternal: config.allowInternal,
    userAgent: options.userAgent,
    ...(config.caFile ? { ca: registryCertificates(config.caFile) } : {}),
  });
  const resolver = new ImageResolver(
    client,
    { cacheSize: config.cacheSize, tagTtlMs: config.tagTtlMs, digestTtlMs: DIGEST_TTL_MS },
    { cache: (kind, hit) => metrics.imageCache(kind, hit) },
  );
  return new EntrypointResolution({
    resolver,
    ...(kube ? { secrets: kubePullSecretReader(kube) } : {}),
    settings: {
      timeoutMs: config.timeoutMs,
      platform: config.platform,
      onFailure: config.onFailure,
    },
    events: { resolution: (result, seconds) => metrics.imageResolution(result, seconds) },
    logger,
  });
}
