// The I/O edge of admission for containers without a command: which images to read (pure), then their pull Secrets and registries, under one deadline, into the ResolvedImages the pure mutation takes.
import type { Logger } from 'pino';
import { parseAdmissionReview } from '../admission.ts';
import type { ResolvedImage, ResolvedImages } from '../mutate.ts';
import { injectionTargets } from '../mutate.ts';
import { INJECT_ANNOTATION, STATUS_ANNOTATION } from '../annotations.ts';
import { checkPodShape } from '../pod-shape.ts';
import { quoted } from '../quote.ts';
import {
  DockerKeyring,
  addPullSecret,
  type PullSecretData,
  type RegistryCredential,
} from './auth.ts';
import { ImageResolutionError, type ImageResolutionReason } from './errors.ts';
import type { Platform } from './manifest.ts';
import { parseImageReference } from './reference.ts';
import type { ImageResolver } from './resolver.ts';

/** Matching pull Secret credentials tried per image; each refused one costs round trips. */
export const MAX_CREDENTIALS_TRIED = 3;

export interface ImagesToResolve {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The pod's imagePullSecrets names, in order. */
  readonly pullSecrets: readonly string[];
  /** From the pod's nodeSelector (kubernetes.io/os, kubernetes.io/arch), when it names one. */
  readonly os: string | undefined;
  readonly architecture: string | undefined;
  /** Listed containers without a command (init containers first). */
  readonly containers: readonly { readonly name: string; readonly image: string }[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * What the registry must be asked for this review: undefined when nothing (not a Pod CREATE, no
 * injection asked, every listed container has a command, or a pod the mutation will deny as
 * unreadable anyway). Pure; reads the untrusted body defensively.
 */
export function imagesToResolve(body: unknown): ImagesToResolve | undefined {
  let review;
  try {
    review = parseAdmissionReview(body);
  } catch {
    return undefined;
  }
  const { request } = review;
  if (request.kind.group !== '' || request.kind.kind !== 'Pod') return undefined;
  if (request.operation !== 'CREATE' || request.subResource || !request.object) return undefined;
  const shape = checkPodShape(request.object);
  if (shape.kind === 'unreadable') return undefined;
  const annotations = shape.pod.metadata?.annotations ?? {};
  const targets = injectionTargets(annotations[INJECT_ANNOTATION], annotations[STATUS_ANNOTATION]);
  if (targets.kind === 'skip') return undefined;
  const spec = isRecord(request.object.spec) ? request.object.spec : {};
  const containers: { name: string; image: string }[] = [];
  for (const list of [spec.initContainers, spec.containers]) {
    if (!Array.isArray(list)) continue;
    for (const entry of list as unknown[]) {
      if (!isRecord(entry) || typeof entry.name !== 'string') continue;
      if (!targets.names.includes(entry.name)) continue;
      if (Array.isArray(entry.command) && entry.command.length > 0) continue;
      containers.push({
        name: entry.name,
        image: typeof entry.image === 'string' ? entry.image : '',
      });
    }
  }
  if (containers.length === 0) return undefined;
  const pullSecrets = Array.isArray(spec.imagePullSecrets)
    ? (spec.imagePullSecrets as unknown[])
        .map((entry) => (isRecord(entry) ? text(entry.name) : undefined))
        .filter((name): name is string => name !== undefined)
    : [];
  const selector = isRecord(spec.nodeSelector) ? spec.nodeSelector : {};
  return {
    namespace: request.namespace ?? '',
    serviceAccount: text(spec.serviceAccountName) ?? text(spec.serviceAccount) ?? 'default',
    pullSecrets,
    os: text(selector['kubernetes.io/os']),
    architecture: text(selector['kubernetes.io/arch']),
    containers,
  };
}

/** What the webhook reads from the apiserver for credentials (--registry-pull-secrets). */
export interface PullSecretReader {
  /** The ServiceAccount's imagePullSecrets names; undefined when it does not exist. */
  serviceAccountPullSecrets(
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<readonly string[] | undefined>;
  /** Undefined when the Secret does not exist. */
  secret(namespace: string, name: string, signal: AbortSignal): Promise<PullSecretData | undefined>;
}

export interface EntrypointSettings {
  readonly timeoutMs: number;
  /** The node platform assumed when the pod's nodeSelector names none. */
  readonly platform: Platform;
  /** deny: a pod whose image cannot be read is refused; admit: it is admitted unmutated. */
  readonly onFailure: 'deny' | 'admit';
}

export interface EntrypointEvents {
  resolution(
    result: 'cache' | 'registry' | ImageResolutionReason | 'InternalError',
    seconds: number,
  ): void;
}

export interface Resolution {
  readonly images: ResolvedImages;
  readonly onFailure: 'deny' | 'admit';
}

export interface EntrypointResolutionOptions {
  readonly resolver: ImageResolver;
  /** Absent: anonymous access only. */
  readonly secrets?: PullSecretReader;
  readonly settings: EntrypointSettings;
  readonly events?: EntrypointEvents;
  readonly logger: Logger;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

export class EntrypointResolution {
  readonly #options: EntrypointResolutionOptions;

  constructor(options: EntrypointResolutionOptions) {
    this.#options = options;
  }

  /** Never throws, and settles within the timeout (plus a tick). */
  async resolve(body: unknown): Promise<Resolution | undefined> {
    let wanted: ImagesToResolve | undefined;
    try {
      wanted = imagesToResolve(body);
    } catch (error) {
      // Not expected (it reads defensively); the pure admission then judges the pod alone.
      this.#options.logger.error({ err: error }, 'reading the images to resolve failed');
      return undefined;
    }
    if (!wanted) return undefined;
    const { settings, logger } = this.#options;
    const signal = AbortSignal.timeout(settings.timeoutMs);
    const platform: Platform =
      wanted.architecture !== undefined || wanted.os !== undefined
        ? {
            os: wanted.os ?? settings.platform.os,
            architecture: wanted.architecture ?? settings.platform.architecture,
          }
        : settings.platform;
    // The deadline holds even if a read ignored the signal.
    let expire: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      expire = setTimeout(() => resolve('timeout'), settings.timeoutMs + 50);
    });
    const timedOut = (): ResolvedImage => ({
      kind: 'failed',
      why: `the registry did not answer within ${seconds(settings.timeoutMs)} (--registry-timeout)`,
    });
    try {
      const keyring = await Promise.race([this.#keyring(wanted, signal), deadline]);
      const entries = await Promise.race([
        Promise.all(
          wanted.containers.map(async ({ name, image }) => {
            const outcome =
              keyring === 'timeout'
                ? timedOut()
                : await this.#one(wanted, image, keyring, platform, signal);
            return [name, outcome] as const;
          }),
        ),
        deadline,
      ]);
      const images = new Map<string, ResolvedImage>(
        entries === 'timeout' ? wanted.containers.map(({ name }) => [name, timedOut()]) : entries,
      );
      return { images, onFailure: settings.onFailure };
    } catch (error) {
      logger.error(
        { err: error, namespace: wanted.namespace },
        'resolving image entrypoints failed',
      );
      return {
        images: new Map(
          wanted.containers.map(({ name }) => [name, { kind: 'failed', why: 'internal error' }]),
        ),
        onFailure: settings.onFailure,
      };
    } finally {
      clearTimeout(expire);
    }
  }

  async #one(
    wanted: ImagesToResolve,
    image: string,
    keyring: { keyring: DockerKeyring; unread: readonly string[] },
    platform: Platform,
    signal: AbortSignal,
  ): Promise<ResolvedImage> {
    const { resolver, events, logger, settings } = this.#options;
    const started = performance.now();
    const elapsed = (): number => (performance.now() - started) / 1000;
    try {
      const reference = parseImageReference(image);
      const resolved = await this.#withEachCredential(
        keyring.keyring.lookupAll(reference.registry, reference.repository),
        (credential) => resolver.resolve(reference, credential, platform, signal),
      );
      events?.resolution(resolved.source, elapsed());
      logger.debug(
        {
          namespace: wanted.namespace,
          image,
          source: resolved.source,
          ms: Math.round(elapsed() * 1000),
        },
        'image entrypoint resolved',
      );
      return { kind: 'resolved', start: resolved.command };
    } catch (error) {
      if (!(error instanceof ImageResolutionError)) {
        events?.resolution('InternalError', elapsed());
        logger.error(
          { err: error, namespace: wanted.namespace, image },
          'resolving an image entrypoint failed',
        );
        return { kind: 'failed', why: `image ${quoted(image)}: internal error` };
      }
      const reason = signal.aborted ? 'Timeout' : error.reason;
      events?.resolution(reason, elapsed());
      let why =
        reason === 'Timeout'
          ? `the registry did not answer within ${seconds(settings.timeoutMs)} (--registry-timeout)`
          : error.message;
      if (reason === 'Unauthorized' && keyring.unread.length > 0) {
        why += ` (pull Secrets not read: ${keyring.unread.map(quoted).join(', ')})`;
      }
      logger.info({ namespace: wanted.namespace, image, reason }, 'image entrypoint not resolved');
      return {
        kind: 'failed',
        why: reason === 'InvalidReference' ? why : `image ${quoted(image)}: ${why}`,
      };
    }
  }

  /**
   * As the kubelet pulls: anonymously when no credential matches, else with each matching one in
   * turn (at most MAX_CREDENTIALS_TRIED) while the registry refuses it; the last refusal stands.
   */
  async #withEachCredential<T>(
    credentials: readonly RegistryCredential[],
    attempt: (credential: RegistryCredential | undefined) => Promise<T>,
  ): Promise<T> {
    if (credentials.length === 0) return attempt(undefined);
    const tried = credentials.slice(0, MAX_CREDENTIALS_TRIED);
    for (const [index, credential] of tried.entries()) {
      try {
        return await attempt(credential);
      } catch (error) {
        const refused =
          error instanceof ImageResolutionError &&
          (error.reason === 'Unauthorized' || error.reason === 'Forbidden');
        if (!refused || index === tried.length - 1) throw error;
      }
    }
    throw new Error('unreachable: no credential tried');
  }

  /**
   * The pod's imagePullSecrets, or when it has none its ServiceAccount's (what the ServiceAccount
   * admission plugin copies into a pod without its own), read as the kubelet reads them.
   * Missing Secrets are skipped, as the kubelet skips them; unreadable ones are named if the
   * registry then refuses.
   */
  async #keyring(
    wanted: ImagesToResolve,
    signal: AbortSignal,
  ): Promise<{ keyring: DockerKeyring; unread: readonly string[] }> {
    const keyring = new DockerKeyring();
    const reader = this.#options.secrets;
    if (!reader) return { keyring, unread: [] };
    const unread: string[] = [];
    let names = wanted.pullSecrets;
    if (names.length === 0) {
      try {
        names =
          (await reader.serviceAccountPullSecrets(
            wanted.namespace,
            wanted.serviceAccount,
            signal,
          )) ?? [];
      } catch {
        unread.push(`ServiceAccount ${wanted.serviceAccount}`);
      }
    }
    const secrets = await Promise.all(
      names.slice(0, 20).map((name) =>
        reader.secret(wanted.namespace, name, signal).catch(() => {
          unread.push(name);
          return undefined;
        }),
      ),
    );
    for (const secret of secrets) if (secret) addPullSecret(keyring, secret);
    return { keyring, unread };
  }
}
