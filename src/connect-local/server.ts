// Starts connect-local: opens (or seeds) the state dir, then serves the API and the admin listener.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { ActivityLog } from './activity-log.ts';
import { createAdminApi } from './admin.ts';
import { createApi } from './api.ts';
import { ensureCredentials, type ServerCredentials } from './credentials.ts';
import { loadDataFile } from './data-file.ts';
import { noFaults } from './faults.ts';
import { createMetrics } from './metrics.ts';
import { UnauthorizedError } from './errors.ts';
import { ConnectStore } from './store.ts';
import { TokenRegistry } from './token-registry.ts';
import { fillTokenSecret, grantsMatch, type TokenSecretRef } from './token-secret.ts';
import { createToken, resolveGrants, type VaultSpec } from './tokens.ts';
import type { KubeClient } from '../kube/client/client.ts';
import { closeServer, listen } from '../util/http-server.ts';

export const ADMIN_SECRET_FILE = 'admin-secret';
export const DEFAULT_ANONYMOUS_RETENTION = 1000;

export interface ConnectLocalOptions {
  readonly host: string;
  readonly port: number;
  readonly stateDir: string;
  readonly dataFile?: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  readonly adminPort?: number;
  readonly activityRetention: number;
  /** Requests without a valid token are kept apart, this many at most (default 1,000). */
  readonly activityAnonymousRetention?: number;
  readonly maxInlineFileBytes: number;
  readonly maxBodyBytes: number;
  readonly logger: Logger;
  /** `--token-secret`: a token scoped to `vaults` is kept in this Secret, filled at start. */
  readonly tokenSecret?: {
    readonly client: Pick<KubeClient, 'request'>;
    readonly ref: TokenSecretRef;
    readonly vaults: readonly VaultSpec[];
    readonly tokenName: string;
  };
}

export interface RunningConnectLocal {
  readonly url: string;
  readonly adminUrl?: string;
  close(): Promise<void>;
}

function urlOf(scheme: string, address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

/** The admin listener's secret: CONNECT_LOCAL_ADMIN_SECRET, else one kept in the state dir. */
async function adminSecret(stateDir: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (env.CONNECT_LOCAL_ADMIN_SECRET) return env.CONNECT_LOCAL_ADMIN_SECRET;
  const path = join(stateDir, ADMIN_SECRET_FILE);
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const secret = randomBytes(24).toString('base64url');
    await writeFileAtomic(path, secret, 0o600);
    return secret;
  }
}

/** Keeps a token of this server, scoped as asked, in the `--token-secret` Secret. */
async function fillSecret(
  secret: NonNullable<ConnectLocalOptions['tokenSecret']>,
  context: {
    stateDir: string;
    credentials: ServerCredentials;
    store: ConnectStore;
    tokens: TokenRegistry;
    logger: Logger;
  },
): Promise<void> {
  const { ref } = secret;
  const knownVaults = context.store.vaults();
  const wanted = resolveGrants(knownVaults, secret.vaults);
  const result = await fillTokenSecret({
    client: secret.client,
    ref,
    async isCurrent(token) {
      try {
        const principal = await context.tokens.authenticate(`Bearer ${token}`);
        return grantsMatch(principal.grants, wanted);
      } catch (error) {
        if (error instanceof UnauthorizedError) return false;
        throw error;
      }
    },
    async issue() {
      const { token, record } = await createToken(
        context.stateDir,
        context.credentials,
        knownVaults,
        { name: secret.tokenName, vaults: secret.vaults },
      );
      return { token, id: record.id };
    },
  });
  const where = { secret: `${ref.namespace}/${ref.name}`, key: ref.key };
  if (result.action === 'kept') {
    context.logger.info(where, 'the token Secret holds a token of this server; kept it');
  } else {
    context.logger.info(
      {
        ...where,
        tokenId: result.tokenId,
        tokenName: secret.tokenName,
        vaults: wanted.map(
          (grant) => `${grant.name},${grant.read ? 'r' : ''}${grant.write ? 'w' : ''}`,
        ),
      },
      result.replaced
        ? 'the token Secret held a token this server does not accept (unknown, revoked, expired or scoped otherwise); wrote a new one'
        : 'wrote a new token into the token Secret',
    );
  }
}

export async function startConnectLocal(
  options: ConnectLocalOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningConnectLocal> {
  const { logger } = options;
  const stateDir = resolve(options.stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const credentials = await ensureCredentials(stateDir);
  const { store, seeded } = await ConnectStore.open(stateDir, async () =>
    options.dataFile ? loadDataFile(options.dataFile) : [],
  );
  if (options.dataFile && !seeded) {
    logger.info(
      { stateDir },
      'state exists; the data file only seeds an empty state and was not read',
    );
  }
  const tokens = new TokenRegistry(stateDir, credentials);
  await tokens.start();
  if (options.tokenSecret) {
    try {
      await fillSecret(options.tokenSecret, { stateDir, credentials, store, tokens, logger });
    } catch (error) {
      tokens.stop();
      throw error;
    }
  }
  const activity = await ActivityLog.open(stateDir, {
    retention: options.activityRetention,
    anonymousRetention: options.activityAnonymousRetention ?? DEFAULT_ANONYMOUS_RETENTION,
    onError: (error) => logger.error({ err: error }, 'could not append to the activity log'),
  });
  const faults = noFaults();
  const api = createApi({
    store,
    tokens,
    activity,
    faults,
    metrics: createMetrics(),
    logger,
    maxInlineFileBytes: options.maxInlineFileBytes,
    maxBodyBytes: options.maxBodyBytes,
  });

  const server = options.tls
    ? createHttpsServer(
        {
          cert: await readFile(options.tls.certFile),
          key: await readFile(options.tls.keyFile),
          minVersion: 'TLSv1.2',
        },
        api,
      )
    : createHttpServer(api);
  // Clients keep connections open between polls; outlive their idle timeouts rather than race them.
  server.keepAliveTimeout = 125_000;
  server.headersTimeout = 130_000;
  const address = await listen(server, options.host, options.port);
  const url = urlOf(options.tls ? 'https' : 'http', address);

  let adminServer: Server | undefined;
  let adminUrl: string | undefined;
  if (options.adminPort !== undefined) {
    adminServer = createHttpServer(createAdminApi(store, faults, await adminSecret(stateDir, env)));
    adminUrl = urlOf('http', await listen(adminServer, options.host, options.adminPort));
  }
  logger.info(
    { url, adminUrl, stateDir, vaults: store.vaults().length },
    'connect-local listening',
  );

  return {
    url,
    ...(adminUrl ? { adminUrl } : {}),
    async close() {
      tokens.stop();
      await Promise.all([closeServer(server), adminServer ? closeServer(adminServer) : undefined]);
      await activity.close();
    },
  };
}
