// `connect-local --token-secret`: at start, puts a token of this server into a pre-created Secret, so
// a Helm chart can wire connect-local's token into the operator without knowing it. It only reads
// and merge-patches that one Secret (RBAC: get and patch with resourceNames), never creates or lists.
import { ConfigError } from '../cli/errors.ts';
import { KubeApiError } from '../kube/client/api-error.ts';
import { CONTENT_TYPE, KubeClient } from '../kube/client/client.ts';
import {
  KubeConfigError,
  loadKubeConfig,
  type LoadedKubeConfig,
} from '../kube/client/kubeconfig.ts';
import { resourcePath } from '../kube/client/resources.ts';
import type { Grant } from './token-registry.ts';
import type { VaultGrant } from './tokens.ts';
import { OpKubeError } from '../kube/errors.ts';

export interface TokenSecretRef {
  readonly namespace: string;
  readonly name: string;
  /** The data key holding the token. */
  readonly key: string;
}

/** Filling the token Secret failed; the message says what to fix and never holds a token. */
export class TokenSecretError extends OpKubeError<'TokenSecretFailed'> {
  override readonly name = 'TokenSecretError';

  constructor(message: string, options?: ErrorOptions) {
    super('TokenSecretFailed', message, options);
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * `--token-secret`: `name` or `namespace/name`; a bare name is in `defaultNamespace` (POD_NAMESPACE,
 * else the kubeconfig context's).
 */
export function parseTokenSecretRef(
  text: string,
  key: string,
  defaultNamespace: string | undefined,
): TokenSecretRef {
  const parts = text.split('/');
  if (parts.length > 2 || parts.some((part) => part === '')) {
    throw new ConfigError(
      '--token-secret',
      `expected <name> or <namespace>/<name>, got ${JSON.stringify(text)}`,
    );
  }
  const name = parts.at(-1) ?? '';
  const namespace = parts.length === 2 ? (parts[0] ?? '') : defaultNamespace;
  if (namespace === undefined || namespace === '') {
    throw new ConfigError(
      '--token-secret',
      'no namespace: write <namespace>/<name>, set POD_NAMESPACE, or use a kubeconfig context with one',
    );
  }
  if (namespace.length > 63 || !DNS_LABEL.test(namespace)) {
    throw new ConfigError(
      '--token-secret',
      `${JSON.stringify(namespace)} is not a valid namespace`,
    );
  }
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw new ConfigError('--token-secret', `${JSON.stringify(name)} is not a valid Secret name`);
  }
  if (key.length > 253 || !SECRET_KEY.test(key) || key === '.' || key === '..') {
    throw new ConfigError(
      '--token-secret-key',
      `${JSON.stringify(key)} is not a valid Secret key (letters, digits, '-', '_' and '.')`,
    );
  }
  return { namespace, name, key };
}

/** Whether a token's grants are exactly `wanted`: a token scoped otherwise is replaced. */
export function grantsMatch(
  grants: ReadonlyMap<string, Grant>,
  wanted: readonly VaultGrant[],
): boolean {
  if (grants.size !== wanted.length) return false;
  return wanted.every((grant) => {
    const got = grants.get(grant.id);
    return got !== undefined && got.read === grant.read && got.write === grant.write;
  });
}

function describe(ref: TokenSecretRef): string {
  return `Secret ${ref.namespace}/${ref.name}`;
}

/** A failed apiserver call on the token Secret, as an error that says what to fix. */
export function tokenSecretFailure(
  error: unknown,
  verb: 'get' | 'patch',
  ref: TokenSecretRef,
): TokenSecretError {
  const secret = describe(ref);
  if (!(error instanceof KubeApiError)) {
    return new TokenSecretError(
      `cannot ${verb} ${secret}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  switch (error.status) {
    case 0:
      return new TokenSecretError(
        `cannot reach the apiserver to ${verb} ${secret}: ${error.message}`,
      );
    case 401:
      return new TokenSecretError(
        `the apiserver rejected connect-local's credentials when it tried to ${verb} ${secret}: ${error.message}`,
      );
    case 403:
      return new TokenSecretError(
        `forbidden to ${verb} ${secret}: connect-local needs a Role in namespace ${ref.namespace} ` +
          `allowing verbs get and patch on secrets with resourceNames [${ref.name}], bound to its ` +
          `ServiceAccount (the chart creates both when connectLocal.enabled): ${error.message}`,
      );
    case 404:
      return new TokenSecretError(
        `${secret} does not exist: create it (empty) first; connect-local fills it but never ` +
          'creates Secrets (the chart creates it when connectLocal.enabled)',
      );
    default:
      return new TokenSecretError(`cannot ${verb} ${secret}: ${error.message}`);
  }
}

interface SecretObject {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly data?: Readonly<Record<string, string>>;
}

/** The merge patch that writes `token` under `key`, refused by the apiserver if the Secret changed. */
export function tokenPatch(
  key: string,
  token: string,
  resourceVersion: string | undefined,
): Record<string, unknown> {
  return {
    ...(resourceVersion ? { metadata: { resourceVersion } } : {}),
    data: { [key]: Buffer.from(token, 'utf8').toString('base64') },
  };
}

export interface FillTokenSecretOptions {
  readonly client: Pick<KubeClient, 'request'>;
  readonly ref: TokenSecretRef;
  /** Whether this server accepts `token` with the scope asked for (unknown, revoked: false). */
  readonly isCurrent: (token: string) => Promise<boolean>;
  /** Issues the new token (once, even when the patch is retried). */
  readonly issue: () => Promise<{ readonly token: string; readonly id: string }>;
}

export type FillTokenSecretResult =
  | { readonly action: 'kept' }
  | { readonly action: 'written'; readonly tokenId: string; readonly replaced: boolean };

const ATTEMPTS = 3;

/**
 * Keeps the Secret's token when this server still accepts it with the scope asked for; otherwise
 * issues one and merge-patches it in (retried when the Secret changed in between).
 * @throws TokenSecretError
 */
export async function fillTokenSecret(
  options: FillTokenSecretOptions,
): Promise<FillTokenSecretResult> {
  const { client, ref } = options;
  const path = resourcePath({
    apiVersion: 'v1',
    plural: 'secrets',
    namespace: ref.namespace,
    name: ref.name,
  });
  let issued: { token: string; id: string } | undefined;
  for (let attempt = 1; ; attempt += 1) {
    let secret: SecretObject;
    try {
      secret = await client.request<SecretObject>({
        method: 'GET',
        path,
        operation: `get ${describe(ref)}`,
      });
    } catch (error) {
      throw tokenSecretFailure(error, 'get', ref);
    }
    const stored = secret.data?.[ref.key];
    const current = stored ? Buffer.from(stored, 'base64').toString('utf8').trim() : '';
    if (current !== '' && (await options.isCurrent(current))) return { action: 'kept' };
    issued ??= await options.issue();
    try {
      await client.request({
        method: 'PATCH',
        path,
        body: tokenPatch(ref.key, issued.token, secret.metadata?.resourceVersion),
        contentType: CONTENT_TYPE.mergePatch,
        operation: `patch ${describe(ref)}`,
      });
      return { action: 'written', tokenId: issued.id, replaced: current !== '' };
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 409 && attempt < ATTEMPTS) continue;
      throw tokenSecretFailure(error, 'patch', ref);
    }
  }
}

/** The apiserver client and Secret of `--token-secret`, from --kubeconfig, KUBECONFIG or the pod. */
export function connectTokenSecret(options: {
  readonly secret: string;
  readonly key: string;
  readonly kubeconfig?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
}): { client: KubeClient; ref: TokenSecretRef } {
  let loaded: LoadedKubeConfig;
  try {
    loaded = loadKubeConfig({ kubeconfig: options.kubeconfig, env: options.env });
  } catch (error) {
    if (error instanceof KubeConfigError) {
      throw new TokenSecretError(`--token-secret needs the apiserver: ${error.message}`);
    }
    throw error;
  }
  const namespace = options.env.POD_NAMESPACE || loaded.namespace;
  const ref = parseTokenSecretRef(options.secret, options.key, namespace);
  return {
    client: new KubeClient(loaded, { userAgent: 'op-kube-connect-local', qps: 0 }),
    ref,
  };
}
