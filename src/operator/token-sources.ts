// Which ItemSource serves a namespace: the operator's one (OP_CONNECT_TOKEN), or with
// --token-source=namespace one per distinct Connect token found in the namespaces' token Secrets
// (decision 023). Sources are keyed by a digest of the token that never leaves this module.
import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { OpKubeError } from '../kube/errors.ts';
import type { KeySignal } from '../kube/runtime/builder.ts';
import { ConnectHealth } from './connect-health.ts';
import { ItemSource, type ItemBackend } from './item-source.ts';
import type { PollTarget } from './poller.ts';
import type { Lister } from './ports.ts';

/** A namespace has no usable token Secret: its items wait for one (the Secret's watch re-queues them). */
export class NoTokenError extends OpKubeError<'NoToken'> {
  override readonly name = 'NoTokenError';

  constructor(message: string) {
    super('NoToken', message, { terminal: true });
  }
}

/** The ItemSource for a namespace's items. */
export interface SourceRouter {
  /** @throws NoTokenError when the namespace has no usable token */
  sourceFor(namespace: string): ItemSource;
}

/** The operator's one token for every namespace (1Password's behaviour). */
export function sharedSource(source: ItemSource): SourceRouter {
  return { sourceFor: () => source };
}

/** Connect's two clients for one token: reads, and change detection. */
export interface TokenClients {
  readonly items: ItemBackend;
  readonly pollItems: ItemBackend;
  close(): Promise<void>;
}

/** Where each token's change detection runs (Poller fits). */
export interface PollTargets {
  addTarget(target: PollTarget): void;
  removeTarget(target: PollTarget): void;
}

export interface NamespaceTokensOptions {
  /** Token Secrets (only those named `secretName`: the informer lists by metadata.name). */
  readonly secrets: Lister<V1Secret>;
  readonly secretName: string;
  readonly secretKey: string;
  /** Makes the clients for one token. */
  readonly open: (token: string) => TokenClients;
  readonly poller: PollTargets;
  readonly pollingIntervalMs: number;
  readonly logger: Logger;
}

interface Entry {
  readonly source: ItemSource;
  readonly clients: TokenClients;
  readonly target: PollTarget;
}

type TokenLookup = { readonly token: string } | { readonly problem: string };

export class NamespaceTokens implements SourceRouter {
  readonly #options: NamespaceTokensOptions;
  /** Token digest → its source, clients and poll target. */
  readonly #entries = new Map<string, Entry>();
  /** Namespace → the digest of its token at a Secret's resourceVersion (hashed once per change). */
  readonly #digests = new Map<string, { readonly version: string; readonly digest: string }>();
  readonly #listeners: ((namespace: string) => void)[] = [];

  constructor(options: NamespaceTokensOptions) {
    this.#options = options;
  }

  sourceFor(namespace: string): ItemSource {
    const found = this.#token(namespace);
    if ('problem' in found) throw new NoTokenError(found.problem);
    const digest = this.#digest(namespace, found.token);
    const known = this.#entries.get(digest);
    if (known) return known.source;
    const clients = this.#options.open(found.token);
    const source = new ItemSource({ client: clients.items, pollClient: clients.pollItems });
    const target: PollTarget = {
      source,
      health: new ConnectHealth({ pollingIntervalMs: this.#options.pollingIntervalMs }),
      serves: (served) => this.#digestOf(served) === digest,
      describe: () => ({ namespaces: this.#namespacesOf(digest) }),
    };
    this.#entries.set(digest, { source, clients, target });
    this.#options.poller.addTarget(target);
    this.#options.logger.info(
      { namespaces: this.#namespacesOf(digest), tokens: this.#entries.size },
      'a new Connect token is in use',
    );
    return source;
  }

  /** Sources (and their clients) in use, one per distinct token. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The token Secret of `namespace` was added, changed or deleted (the informer's handlers): its
   * objects are reconciled again with the token it holds now, and a token no namespace holds any
   * more has its clients closed.
   */
  secretChanged(previous: V1Secret | undefined, current: V1Secret | undefined): void {
    const namespace = (current ?? previous)?.metadata?.namespace;
    if (namespace === undefined) return;
    const key = this.#options.secretKey;
    if (previous && current && previous.data?.[key] === current.data?.[key]) return;
    this.#digests.delete(namespace);
    this.#collect();
    for (const listener of this.#listeners) listener(namespace);
  }

  /** A key signal: `keysIn(namespace)` whenever that namespace's token changed. */
  keysOnChange(keysIn: (namespace: string) => string[]): KeySignal {
    return (enqueue) => this.#listeners.push((namespace) => enqueue(keysIn(namespace)));
  }

  async close(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) this.#options.poller.removeTarget(entry.target);
    await Promise.all(entries.map((entry) => entry.clients.close()));
  }

  /** Drops the sources of tokens no token Secret holds any more. */
  #collect(): void {
    const held = new Set<string>();
    for (const secret of this.#options.secrets.list()) {
      const namespace = secret.metadata?.namespace;
      if (namespace === undefined || secret.metadata?.name !== this.#options.secretName) continue;
      const digest = this.#digestOf(namespace);
      if (digest !== undefined) held.add(digest);
    }
    for (const [digest, entry] of this.#entries) {
      if (held.has(digest)) continue;
      this.#entries.delete(digest);
      this.#options.poller.removeTarget(entry.target);
      void entry.clients
        .close()
        .catch((error: unknown) =>
          this.#options.logger.warn(
            { err: error instanceof Error ? { message: error.message } : undefined },
            'closing the clients of a token no longer used failed',
          ),
        );
      this.#options.logger.info(
        { tokens: this.#entries.size },
        'a Connect token is no longer used; its clients are closed',
      );
    }
  }

  #namespacesOf(digest: string): string[] {
    return this.#options.secrets
      .list()
      .flatMap((secret) => secret.metadata?.namespace ?? [])
      .filter((namespace) => this.#digestOf(namespace) === digest)
      .sort();
  }

  /** The digest of the namespace's current token, or undefined when it has none. */
  #digestOf(namespace: string): string | undefined {
    const found = this.#token(namespace);
    return 'token' in found ? this.#digest(namespace, found.token) : undefined;
  }

  #digest(namespace: string, token: string): string {
    const version =
      this.#options.secrets.get(namespace, this.#options.secretName)?.metadata?.resourceVersion ??
      '';
    const known = this.#digests.get(namespace);
    if (known && known.version === version && version !== '') return known.digest;
    const digest = createHash('sha256').update(token).digest('hex');
    this.#digests.set(namespace, { version, digest });
    return digest;
  }

  #token(namespace: string): TokenLookup {
    const { secretName, secretKey } = this.#options;
    const secret = this.#options.secrets.get(namespace, secretName);
    const where = `Secret ${secretName} in namespace ${namespace}`;
    if (!secret) {
      return {
        problem: `no Connect token for this namespace: create the ${where} with the token under the key ${secretKey} (the operator runs with --token-source=namespace)`,
      };
    }
    const encoded = secret.data?.[secretKey];
    if (encoded === undefined) return { problem: `${where} has no key ${secretKey}` };
    // A token written with a trailing newline (kubectl create secret --from-file) still works.
    const token = Buffer.from(encoded, 'base64').toString('utf8').trim();
    if (token === '') return { problem: `the key ${secretKey} of the ${where} is empty` };
    if (/[^\x21-\x7e]/.test(token)) {
      return {
        problem: `the key ${secretKey} of the ${where} is not a token (it holds characters no HTTP header may carry)`,
      };
    }
    return { token };
  }
}
