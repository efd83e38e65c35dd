// Annotation and label names the injector reads and writes: 1Password's, kept for drop-in use.

/** Comma-separated names of the containers (init containers too) whose command `op run` wraps. */
export const INJECT_ANNOTATION = 'operator.1password.io/inject';
/** Tag of the op image copied into the pod. */
export const VERSION_ANNOTATION = 'operator.1password.io/version';
export const DEFAULT_OP_VERSION = '2';
/** Marks a pod as done, so a reinvoked or repeated admission leaves it alone. */
export const STATUS_ANNOTATION = 'operator.1password.io/status';
export const STATUS_INJECTED = 'injected';
/**
 * "true" runs copy-op-bin before every other init container. The name is the one proposed for
 * 1Password's own injector (1Password/kubernetes-secrets-injector#55, after Vault's
 * `agent-init-first`), hence 1Password's prefix rather than op-kube's: pods written for either
 * injector then mean the same thing.
 */
export const INIT_FIRST_ANNOTATION = 'operator.1password.io/injector-init-first';

/** Namespaces carrying this label are the ones the webhook configuration selects. */
export const INJECTION_NAMESPACE_LABEL = 'secrets-injection';
export const INJECTION_NAMESPACE_LABEL_VALUE = 'enabled';
