// The self-managed TLS settings and their defaults, apart from the certificate code so flag parsing loads no crypto library.

const DAY_MS = 86_400_000;

/** How long a serving certificate is valid unless `--cert-validity` says otherwise. */
export const DEFAULT_CERT_VALIDITY_MS = 365 * DAY_MS;
/**
 * How long before expiry a certificate (serving or CA) is replaced unless `--cert-rotate-before`
 * says otherwise.
 */
export const DEFAULT_ROTATE_BEFORE_MS = 30 * DAY_MS;
/** A CA lives this many times as long as the serving certificates it signs. */
export const CA_VALIDITY_FACTOR = 5;
/** How long a new CA sits in the caBundle before the serving certificate switches to it. */
export const DEFAULT_CA_PROPAGATION_MS = 5 * 60_000;
/**
 * How soon to look again while the switch to a new CA waits only for the caller to publish the
 * caBundle (the time has passed but `publishedCaBundle` lacks the new CA).
 */
export const PUBLISH_RECHECK_MS = 30_000;
/** The subject CN of generated CAs, before `@<unix seconds>`. */
export const DEFAULT_CA_COMMON_NAME = 'op-kube-webhook-ca';

export interface RotationOptions {
  readonly now: Date;
  /** DNS names the serving certificate must carry (see `servingNames`); the first is its CN. */
  readonly serviceNames: readonly string[];
  /** IP addresses the serving certificate must carry. */
  readonly ipAddresses?: readonly string[];
  /** Validity of a serving certificate (`--cert-validity`). */
  readonly validityMs: number;
  /** Validity of a CA; `CA_VALIDITY_FACTOR` × `validityMs` when absent. */
  readonly caValidityMs?: number;
  /** Replace a certificate once it has less than this left (`--cert-rotate-before`). */
  readonly rotateBeforeMs: number;
  /** Time between adding a new CA to `ca.crt` and serving a certificate from it. */
  readonly caPropagationMs?: number;
  /**
   * The CA bundle (PEM) the MutatingWebhookConfiguration holds now, when the caller knows it: the
   * serving certificate then switches to a new CA only once this bundle trusts it.
   */
  readonly publishedCaBundle?: string;
  /** CN prefix of generated CAs. */
  readonly caCommonName?: string;
}

/** A rotation setting that is wrong; `setting` names it, so a caller can name its own flag for it. */
export class RotationSettingError extends RangeError {
  override readonly name = 'RotationSettingError';
  readonly setting: keyof RotationOptions;

  constructor(setting: keyof RotationOptions, message: string) {
    super(message);
    this.setting = setting;
  }
}

/**
 * Checks the durations against each other; a RotationSettingError names the first that is wrong.
 * The rules keep planning from looping: a fresh certificate must not already be due for renewal
 * (certificate times are whole seconds, hence the margin), and the old CA must outlive the wait
 * before the serving certificate leaves it.
 */
export function checkRotationOptions(options: RotationOptions): void {
  const { validityMs, rotateBeforeMs } = options;
  const caValidityMs = options.caValidityMs ?? CA_VALIDITY_FACTOR * validityMs;
  const caPropagationMs = options.caPropagationMs ?? DEFAULT_CA_PROPAGATION_MS;
  if (Number.isNaN(options.now.getTime())) {
    throw new RotationSettingError('now', 'invalid Date for now');
  }
  if (!(rotateBeforeMs > 0)) {
    throw new RotationSettingError('rotateBeforeMs', 'the rotate-before duration must be positive');
  }
  if (!(validityMs >= rotateBeforeMs + 60_000)) {
    throw new RotationSettingError(
      'validityMs',
      'the certificate validity must exceed the rotate-before duration by at least a minute',
    );
  }
  if (!(caValidityMs >= validityMs)) {
    throw new RotationSettingError(
      'caValidityMs',
      'the CA validity must be at least the certificate validity',
    );
  }
  if (!(caPropagationMs >= 0 && caPropagationMs < rotateBeforeMs)) {
    throw new RotationSettingError(
      'caPropagationMs',
      'the CA propagation delay must be shorter than the rotate-before duration',
    );
  }
  if (options.serviceNames.length === 0) {
    throw new RotationSettingError(
      'serviceNames',
      'the serving certificate needs at least one DNS name',
    );
  }
}
