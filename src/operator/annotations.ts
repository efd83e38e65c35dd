// Annotation and label names: 1Password's (kept for drop-in use) and op-kube's own extensions.

/** 1Password's prefix; every annotation under it means what it means for 1Password's operator. */
export const ONEPASSWORD_PREFIX = 'operator.1password.io/';
export const ITEM_PATH_ANNOTATION = `${ONEPASSWORD_PREFIX}item-path`;
export const ITEM_NAME_ANNOTATION = `${ONEPASSWORD_PREFIX}item-name`;
export const ITEM_VERSION_ANNOTATION = `${ONEPASSWORD_PREFIX}item-version`;
export const AUTO_RESTART_ANNOTATION = `${ONEPASSWORD_PREFIX}auto-restart`;
export const LAST_RESTARTED_ANNOTATION = `${ONEPASSWORD_PREFIX}last-restarted`;
/**
 * The finalizer 1Password's operator puts on every OnePasswordItem and annotated Deployment it
 * handles. op-kube never adds it; it runs 1Password's clean-up and removes it from objects being
 * deleted, so they do not hang in Terminating after a switch.
 */
export const ONEPASSWORD_FINALIZER = 'onepassword.com/finalizer.secret';
/** Item tag that freezes a Secret's data. */
export const IGNORE_SECRET_TAG = 'operator.1password.io:ignore-secret';

/** The one prefix for op-kube's own extensions. */
export const OP_KUBE_PREFIX = 'op-kube.io/';
/** Changing this annotation's value on a OnePasswordItem forces an immediate re-sync. */
export const RESYNC_ANNOTATION = `${OP_KUBE_PREFIX}resync`;
/** On a Namespace (set by cluster admins): the vaults its items may read, comma-separated. */
export const ALLOWED_VAULTS_ANNOTATION = `${OP_KUBE_PREFIX}allowed-vaults`;

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'op-kube';
/** Server-side apply field manager for everything op-kube writes. */
export const FIELD_MANAGER = 'op-kube';
