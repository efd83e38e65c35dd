// 1Password's injector's MutatingWebhookConfiguration and names, pure (no crypto): what `--tls-mode=onepassword` writes.
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { INJECTION_NAMESPACE_LABEL, INJECTION_NAMESPACE_LABEL_VALUE } from '../annotations.ts';

/** 1Password's names (pkg/webhook/k8s_client.go, cmd/main.go), fixed in its binary. */
export const ONEPASSWORD_WEBHOOK_CONFIG_NAME = 'secrets-injector-webhook-config';
export const ONEPASSWORD_WEBHOOK_NAME = 'secrets-injector.1password.com';
export const ONEPASSWORD_INJECT_PATH = '/inject';
/** `-service-name`'s default in 1Password's injector. */
export const ONEPASSWORD_DEFAULT_SERVICE_NAME = 'secrets-injector-svc';

/**
 * The configuration 1Password's injector writes, field for field: one webhook on Pod CREATE and
 * UPDATE in namespaces labelled `secrets-injection=enabled`, failurePolicy Fail, sideEffects None,
 * calling Service `<serviceName>` in `<namespace>` on its default port (443) at /inject. The
 * apiserver defaults the rest (matchPolicy, timeoutSeconds, reinvocationPolicy, scope).
 */
export function onePasswordWebhookConfiguration(options: {
  readonly name?: string;
  readonly serviceName: string;
  readonly namespace: string;
  /** PEM of the CA. */
  readonly caPem: string;
}): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: options.name ?? ONEPASSWORD_WEBHOOK_CONFIG_NAME },
    webhooks: [
      {
        name: ONEPASSWORD_WEBHOOK_NAME,
        admissionReviewVersions: ['v1', 'v1beta1'],
        sideEffects: 'None',
        clientConfig: {
          caBundle: Buffer.from(options.caPem, 'utf8').toString('base64'),
          service: {
            name: options.serviceName,
            namespace: options.namespace,
            path: ONEPASSWORD_INJECT_PATH,
          },
        },
        rules: [
          {
            operations: ['CREATE', 'UPDATE'],
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['pods'],
          },
        ],
        namespaceSelector: {
          matchLabels: { [INJECTION_NAMESPACE_LABEL]: INJECTION_NAMESPACE_LABEL_VALUE },
        },
        failurePolicy: 'Fail',
      },
    ],
  };
}

/** The caBundle (PEM) of a stored configuration's first webhook, if any. */
export function caBundleOfConfiguration(
  configuration: V1MutatingWebhookConfiguration | undefined,
): string | undefined {
  const encoded = configuration?.webhooks?.[0]?.clientConfig.caBundle;
  return encoded ? Buffer.from(encoded, 'base64').toString('utf8') : undefined;
}
