// The self-managed TLS bundle kept in a Secret: when to create it, renew it and rotate its CA.
//
// Design (docs/decisions/007-webhook-tls-rotation.md tells the why at more length):
//
// - One Secret holds everything: `ca.crt` (the CA bundle: the current CA first, then any older CA
//   that has not expired yet, concatenated PEM), `ca.key` (the current CA's key), `tls.crt` (the
//   serving certificate alone), `tls.key`, and `ca.added-at` (RFC 3339: when the current CA was put
//   into `ca.crt`). The Lease leader alone writes it and alone copies `ca.crt` into the
//   MutatingWebhookConfiguration's caBundle (`caBundleOf`); every replica serves `tls.crt`.
// - `planRotation` is level-based and pure: it reads the stored bundle and the clock and names one
//   step; `applyPlan` performs it; `reconcileTlsBundle` repeats the two until nothing is left to
//   do. Every step leaves a bundle that every replica and every apiserver can use.
// - Renewing the serving certificate under the same CA leaves `ca.crt` byte for byte unchanged, so
//   no caBundle patch is needed and nothing the apiserver caches goes stale.
// - A CA rotation takes two steps, because the apiserver (several of them, each with its own
//   informer and its cached webhook clients) learns of a new caBundle some time after the leader
//   patches it. Step 1 (`rotate-ca`) puts a new CA in front of the old one in `ca.crt` and keeps
//   serving the old CA's certificate, which both the old and the new caBundle trust. Step 2 (a
//   `rotate-serving` with reason `SwitchToNewCa`) comes `caPropagationMs` after step 1 and, when
//   the caller says what the webhook configuration holds, only once its caBundle holds the new CA:
//   it issues the serving certificate from the new CA. Replicas that still serve the old certificate
//   stay trusted, since the old CA stays in `ca.crt` until it expires (`prune-ca` then drops it).
// - A serving certificate never outlives its CA, and a CA is rotated `rotateBeforeMs` before it
//   expires, so a serving certificate that is about to expire because its CA is gets its new
//   certificate through the CA rotation instead of a renewal under the dying CA.
// - Anything unusable (a missing or unparseable field, a CA key that matches no CA in `ca.crt`, an
//   expired CA) starts afresh (`create`): a new CA and a serving certificate from it at once, since
//   nothing that was there can be served or trusted any more. A broken serving certificate
//   (missing, unparseable, expired, the wrong key, from no CA in the bundle) is reissued at once
//   from the current CA, before any CA rotation, because that CA is the one the caBundle already
//   trusts.
import {
  describeCertificate,
  generateCertificateAuthority,
  isIssuedBy,
  issueServingCertificate,
  keyMatchesCertificate,
  normalizeIpAddress,
  splitPemCertificates,
  type CertificateDescription,
  type PemKeyPair,
} from './certificates.ts';
import {
  checkRotationOptions,
  CA_VALIDITY_FACTOR,
  DEFAULT_CA_PROPAGATION_MS,
  PUBLISH_RECHECK_MS,
  DEFAULT_CA_COMMON_NAME,
  type RotationOptions,
} from './rotation-settings.ts';

/** The self-managed mode's Secret data, decoded (every value is text). */
export interface StoredTlsBundle {
  /** The CA bundle: the current CA, then older CAs not yet expired (PEM, concatenated). */
  readonly 'ca.crt': string;
  /** The current CA's private key (PKCS #8 PEM). */
  readonly 'ca.key': string;
  /** The serving certificate alone (no chain: clients trust the CA directly). */
  readonly 'tls.crt': string;
  readonly 'tls.key': string;
  /** RFC 3339: when the current CA was added to `ca.crt`. */
  readonly 'ca.added-at': string;
}

export const TLS_BUNDLE_KEYS = [
  'ca.crt',
  'ca.key',
  'tls.crt',
  'tls.key',
  'ca.added-at',
] as const satisfies readonly (keyof StoredTlsBundle)[];

export type RotationAction = 'create' | 'rotate-ca' | 'rotate-serving' | 'prune-ca';

/** Why a step is due, as a CamelCase machine reason (for logs, Events and metric labels). */
export type RotationReason =
  | 'Missing'
  | 'Unparseable'
  | 'KeyMismatch'
  | 'CaExpired'
  | 'ServingInvalid'
  | 'CaExpiring'
  | 'SwitchToNewCa'
  | 'ServingExpiring'
  | 'NamesChanged'
  | 'ExpiredCaInBundle'
  /** Asked for by hand (the TLS Secret's `op-kube.io/rotate-ca` annotation). */
  | 'Requested';

export interface RotationStep {
  /**
   * - `create`: a new CA and a serving certificate from it; `ca.crt` holds the new CA alone.
   * - `rotate-ca`: step 1 of a CA rotation, a new CA added in front of `ca.crt`; `tls.*` unchanged.
   * - `rotate-serving`: a new serving certificate from the current CA; `ca.crt` unchanged.
   * - `prune-ca`: expired certificates dropped from `ca.crt`; nothing else changes.
   */
  readonly action: RotationAction;
  readonly reason: RotationReason;
  readonly message: string;
  /** Whether the step changes `ca.crt`, and so the caBundle the leader must publish. */
  readonly changesCaBundle: boolean;
}

export interface KeepPlan {
  readonly action: 'keep';
  /** When planning again may give something else to do (the caller's requeue time). */
  readonly recheckAt: Date;
  /** Set while a CA rotation's second step waits, saying for what. */
  readonly waitingFor?: string;
}

export type RotationPlan = KeepPlan | RotationStep;

interface ParsedCertificate {
  readonly pem: string;
  readonly description: CertificateDescription;
}

interface ParsedBundle {
  readonly bundle: StoredTlsBundle;
  /** Every certificate in `ca.crt`, in order. */
  readonly authorities: readonly ParsedCertificate[];
  /** The CA in `ca.crt` whose key is `ca.key`. */
  readonly current: ParsedCertificate;
  readonly addedAt: Date;
}

const CA_CHANGING: Readonly<Record<RotationAction, boolean>> = {
  create: true,
  'rotate-ca': true,
  'rotate-serving': false,
  'prune-ca': true,
};

function step(action: RotationAction, reason: RotationReason, message: string): RotationStep {
  return { action, reason, message, changesCaBundle: CA_CHANGING[action] };
}

function tryDescribe(pem: string): CertificateDescription | undefined {
  try {
    return describeCertificate(pem);
  } catch {
    return undefined;
  }
}

type ParseResult = { readonly parsed: ParsedBundle } | { readonly problem: RotationStep };

function parseBundle(current: Partial<StoredTlsBundle> | undefined): ParseResult {
  const caCrt = current?.['ca.crt'];
  const caKey = current?.['ca.key'];
  if (!caCrt || !caKey) {
    return { problem: step('create', 'Missing', 'no CA is stored yet') };
  }
  const blocks = splitPemCertificates(caCrt);
  const authorities: ParsedCertificate[] = [];
  for (const pem of blocks) {
    const description = tryDescribe(pem);
    if (!description) {
      return {
        problem: step('create', 'Unparseable', 'ca.crt holds a certificate that does not parse'),
      };
    }
    authorities.push({ pem, description });
  }
  const currentCa = authorities.find(
    (authority) => authority.description.isCa && keyMatchesCertificate(authority.pem, caKey),
  );
  if (!currentCa) {
    return { problem: step('create', 'KeyMismatch', 'ca.key is the key of no CA in ca.crt') };
  }
  const storedAddedAt = current['ca.added-at'] ?? '';
  const storedTime = Date.parse(storedAddedAt);
  // A bundle written by hand may lack the time; the CA's own start is the best guess then.
  const addedAt = Number.isNaN(storedTime) ? currentCa.description.notBefore : new Date(storedTime);
  return {
    parsed: {
      bundle: {
        'ca.crt': caCrt,
        'ca.key': caKey,
        'tls.crt': current['tls.crt'] ?? '',
        'tls.key': current['tls.key'] ?? '',
        'ca.added-at': Number.isNaN(storedTime) ? addedAt.toISOString() : storedAddedAt,
      },
      authorities,
      current: currentCa,
      addedAt,
    },
  };
}

type ServingState =
  | { readonly problem: string }
  | { readonly serving: CertificateDescription; readonly issuer: ParsedCertificate };

function servingState(parsed: ParsedBundle, now: Date): ServingState {
  const { 'tls.crt': cert, 'tls.key': key } = parsed.bundle;
  if (!cert || !key) return { problem: 'no serving certificate is stored' };
  const serving = tryDescribe(cert);
  if (!serving) return { problem: 'tls.crt does not parse' };
  if (!keyMatchesCertificate(cert, key)) return { problem: 'tls.key is not the key of tls.crt' };
  if (serving.notAfter.getTime() <= now.getTime()) return { problem: 'tls.crt has expired' };
  const issuer = parsed.authorities.find(
    (authority) => authority.description.isCa && isIssuedBy(cert, authority.pem),
  );
  if (!issuer) return { problem: 'tls.crt was issued by no CA in ca.crt' };
  return { serving, issuer };
}

function missingNames(serving: CertificateDescription, options: RotationOptions): string[] {
  const dns = new Set(serving.dnsNames);
  const ips = new Set(serving.ipAddresses);
  return [
    ...options.serviceNames.filter((name) => !dns.has(name.toLowerCase().replace(/\.$/, ''))),
    ...(options.ipAddresses ?? []).filter((ip) => !ips.has(normalizeIpAddress(ip))),
  ];
}

function publishedTrusts(published: string, authority: ParsedCertificate): boolean {
  return splitPemCertificates(published).some(
    (pem) => tryDescribe(pem)?.fingerprint === authority.description.fingerprint,
  );
}

function isExpired(certificate: ParsedCertificate, now: Date): boolean {
  return certificate.description.notAfter.getTime() <= now.getTime();
}

/**
 * The one step the stored bundle needs now, or `keep` with the time to look again. Pure: the same
 * bundle, options and `now` always give the same plan. The order of the checks is the order of
 * urgency: nothing usable, a broken serving certificate, a CA near its end, the pending switch to a
 * new CA, a serving certificate near its end or missing a name, expired CAs left in `ca.crt`.
 */
export function planRotation(
  current: Partial<StoredTlsBundle> | undefined,
  options: RotationOptions,
): RotationPlan {
  checkRotationOptions(options);
  const { now, rotateBeforeMs } = options;
  const caPropagationMs = options.caPropagationMs ?? DEFAULT_CA_PROPAGATION_MS;
  const result = parseBundle(current);
  if ('problem' in result) return result.problem;
  const { parsed } = result;
  const ca = parsed.current.description;
  if (ca.notAfter.getTime() <= now.getTime()) {
    return step('create', 'CaExpired', `the CA expired at ${ca.notAfter.toISOString()}`);
  }

  const state = servingState(parsed, now);
  if ('problem' in state) return step('rotate-serving', 'ServingInvalid', state.problem);
  const { serving, issuer } = state;

  const caRenewAt = ca.notAfter.getTime() - rotateBeforeMs;
  if (caRenewAt <= now.getTime()) {
    return step('rotate-ca', 'CaExpiring', `the CA expires at ${ca.notAfter.toISOString()}`);
  }
  const recheck: number[] = [caRenewAt];
  let waitingFor: string | undefined;

  if (issuer !== parsed.current) {
    // Step 2 of a CA rotation, once the new CA has had time to reach every apiserver.
    const switchAt = parsed.addedAt.getTime() + caPropagationMs;
    const published =
      options.publishedCaBundle === undefined ||
      publishedTrusts(options.publishedCaBundle, parsed.current);
    if (switchAt <= now.getTime() && published) {
      return step(
        'rotate-serving',
        'SwitchToNewCa',
        `the CA added at ${parsed.addedAt.toISOString()} has had time to propagate`,
      );
    }
    if (switchAt > now.getTime()) {
      waitingFor = `the new CA to propagate until ${new Date(switchAt).toISOString()}`;
      recheck.push(switchAt);
    } else {
      waitingFor = 'the webhook configuration to trust the new CA';
      recheck.push(now.getTime() + PUBLISH_RECHECK_MS);
    }
    // The serving certificate's own renewal and names wait for the switch, minutes away.
  } else {
    const servingRenewAt = serving.notAfter.getTime() - rotateBeforeMs;
    if (servingRenewAt <= now.getTime()) {
      return step(
        'rotate-serving',
        'ServingExpiring',
        `the serving certificate expires at ${serving.notAfter.toISOString()}`,
      );
    }
    const missing = missingNames(serving, options);
    if (missing.length > 0) {
      return step(
        'rotate-serving',
        'NamesChanged',
        `the serving certificate lacks ${missing.join(', ')}`,
      );
    }
    recheck.push(servingRenewAt);
  }

  const stale = parsed.authorities.filter(
    (authority) => !authority.description.isCa || isExpired(authority, now),
  );
  if (stale.length > 0) {
    return step(
      'prune-ca',
      'ExpiredCaInBundle',
      `ca.crt holds ${stale.length} expired or non-CA certificate(s)`,
    );
  }
  for (const authority of parsed.authorities) {
    if (authority !== parsed.current) recheck.push(authority.description.notAfter.getTime());
  }
  const plan: KeepPlan = { action: 'keep', recheckAt: new Date(Math.min(...recheck)) };
  return waitingFor === undefined ? plan : { ...plan, waitingFor };
}

function caCommonName(options: RotationOptions): string {
  const prefix = options.caCommonName ?? DEFAULT_CA_COMMON_NAME;
  return `${prefix}@${Math.floor(options.now.getTime() / 1000)}`;
}

async function newAuthority(options: RotationOptions): Promise<PemKeyPair> {
  return generateCertificateAuthority({
    now: options.now,
    validityMs: options.caValidityMs ?? CA_VALIDITY_FACTOR * options.validityMs,
    commonName: caCommonName(options),
  });
}

async function newServing(ca: PemKeyPair, options: RotationOptions): Promise<PemKeyPair> {
  return issueServingCertificate(ca, {
    dnsNames: options.serviceNames,
    ipAddresses: options.ipAddresses ?? [],
    now: options.now,
    validityMs: options.validityMs,
  });
}

/**
 * Performs `plan` (from `planRotation` with the same `current` and `options`) and returns the new
 * bundle; `keep` returns the same content. Throws a RangeError when the plan does not fit the
 * bundle (a step other than `create` on a bundle that does not parse).
 */
export async function applyPlan(
  current: Partial<StoredTlsBundle> | undefined,
  plan: RotationPlan,
  options: RotationOptions,
): Promise<StoredTlsBundle> {
  checkRotationOptions(options);
  const addedAt = options.now.toISOString();
  if (plan.action === 'create') {
    const ca = await newAuthority(options);
    const serving = await newServing(ca, options);
    return {
      'ca.crt': ca.cert,
      'ca.key': ca.key,
      'tls.crt': serving.cert,
      'tls.key': serving.key,
      'ca.added-at': addedAt,
    };
  }
  const result = parseBundle(current);
  if ('problem' in result) {
    throw new RangeError(
      `cannot ${plan.action} a bundle that needs creating: ${result.problem.message}`,
    );
  }
  const { parsed } = result;
  const { bundle } = parsed;
  switch (plan.action) {
    case 'keep':
      return bundle;
    case 'rotate-ca': {
      const ca = await newAuthority(options);
      const kept = parsed.authorities.filter(
        (authority) => authority.description.isCa && !isExpired(authority, options.now),
      );
      return {
        ...bundle,
        'ca.crt': [
          ...splitPemCertificates(ca.cert),
          ...kept.map((authority) => authority.pem),
        ].join(''),
        'ca.key': ca.key,
        'ca.added-at': addedAt,
      };
    }
    case 'rotate-serving': {
      const serving = await newServing(
        { cert: parsed.current.pem, key: bundle['ca.key'] },
        options,
      );
      return { ...bundle, 'tls.crt': serving.cert, 'tls.key': serving.key };
    }
    case 'prune-ca': {
      const kept = parsed.authorities.filter(
        (authority) =>
          authority === parsed.current ||
          (authority.description.isCa && !isExpired(authority, options.now)),
      );
      return { ...bundle, 'ca.crt': kept.map((authority) => authority.pem).join('') };
    }
  }
}

export interface ReconciledTlsBundle {
  readonly bundle: StoredTlsBundle;
  /** The steps taken, in order; empty when the stored bundle was kept as it was. */
  readonly steps: readonly RotationStep[];
  /** When to reconcile again. */
  readonly recheckAt: Date;
  readonly waitingFor?: string;
}

/**
 * Plans and applies until the plan is `keep` (at most a handful of steps: e.g. `create`, or
 * `rotate-ca` then a wait). `steps` is empty exactly when `bundle` is `current` unchanged, so the
 * caller writes the Secret only when there are steps, and patches the caBundle when one of them
 * `changesCaBundle` (or, level-based, whenever the published caBundle differs from `caBundleOf`).
 */
export async function reconcileTlsBundle(
  current: Partial<StoredTlsBundle> | undefined,
  options: RotationOptions,
): Promise<ReconciledTlsBundle> {
  const steps: RotationStep[] = [];
  let bundle = current;
  for (let round = 0; round < 6; round += 1) {
    const plan = planRotation(bundle, options);
    if (plan.action === 'keep') {
      const complete = await applyPlan(bundle, plan, options);
      const reconciled = { bundle: complete, steps, recheckAt: plan.recheckAt };
      return plan.waitingFor === undefined
        ? reconciled
        : { ...reconciled, waitingFor: plan.waitingFor };
    }
    steps.push(plan);
    bundle = await applyPlan(bundle, plan, options);
  }
  throw new Error(
    `TLS bundle planning did not settle: ${steps.map((taken) => taken.reason).join(' → ')}`,
  );
}

/** The caBundle for the MutatingWebhookConfiguration: base64 of `ca.crt`. */
export function caBundleOf(bundle: Pick<StoredTlsBundle, 'ca.crt'>): string {
  return Buffer.from(bundle['ca.crt'], 'utf8').toString('base64');
}

/** Decodes a Secret's `data` (base64 values) into the bundle's fields; unknown keys are ignored. */
export function tlsBundleFromSecretData(
  data: Readonly<Record<string, string>> | undefined,
): Partial<StoredTlsBundle> {
  const fields: Partial<Record<keyof StoredTlsBundle, string>> = {};
  for (const key of TLS_BUNDLE_KEYS) {
    const value = data?.[key];
    if (value !== undefined) fields[key] = Buffer.from(value, 'base64').toString('utf8');
  }
  return fields;
}

/** Encodes the bundle as a Secret's `data` (base64 values). */
export function tlsBundleToSecretData(bundle: StoredTlsBundle): Record<string, string> {
  const data: Record<string, string> = {};
  for (const key of TLS_BUNDLE_KEYS)
    data[key] = Buffer.from(bundle[key], 'utf8').toString('base64');
  return data;
}
