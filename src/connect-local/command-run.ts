// What `op-kube connect-local` runs: serve, and the `token …` and `server init` commands on the state
// dir. Loaded by command.ts only when a connect-local command runs.
import type { CommandIo } from '../cli/command.ts';
import { ConfigError, ExitCode, UsageError } from '../cli/errors.ts';
import { createLogger } from '../cli/logger.ts';
import { parseFlags, readFlags, type ParsedFlags } from '../cli/flags.ts';
import { CredentialsExistError, ensureCredentials, initCredentials } from './credentials.ts';
import { DataFileError } from './data-file.ts';
import { ConnectStore } from './store.ts';
import type { TokenSecretRef } from './token-secret.ts';
import type { KubeClient } from '../kube/client/client.ts';
import {
  TokenCommandError,
  createToken,
  parseExpiresIn,
  parseVaultSpec,
  readTokens,
  renameToken,
  revokeToken,
  type TokenRecord,
  type VaultSpec,
} from './tokens.ts';

import {
  createFlags,
  initFlags,
  listFlags,
  renameFlags,
  revokeFlags,
  serveFlags,
  type ServeFlags,
} from './command-flags.ts';

function positiveInteger(flag: string, value: number, allowZero = false): number {
  if (value < (allowZero ? 0 : 1)) {
    throw new ConfigError(flag, `must be ${allowZero ? 'zero or more' : 'at least 1'}`);
  }
  return value;
}

/** `--token-secret` and its companions; undefined when not given. */
async function tokenSecretOptions(
  flag: ServeFlags,
  env: NodeJS.ProcessEnv,
): Promise<
  { client: KubeClient; ref: TokenSecretRef; vaults: VaultSpec[]; tokenName: string } | undefined
> {
  const secret = flag.tokenSecret;
  const vaults = flag.tokenVault;
  if (secret === undefined) {
    if (vaults.length > 0) throw new ConfigError('--token-vault', 'needs --token-secret');
    return undefined;
  }
  if (vaults.length === 0) {
    throw new ConfigError('--token-vault', "is required with --token-secret (the token's scope)");
  }
  const { tokenName } = flag;
  if (!tokenName.trim()) throw new ConfigError('--token-name', 'must not be empty');
  const specs = vaults.map(parseVaultSpec);
  // Loaded only when asked for, as the server is: other commands need no apiserver client.
  const { connectTokenSecret } = await import('./token-secret.ts');
  const { client, ref } = connectTokenSecret({
    secret,
    key: flag.tokenSecretKey,
    kubeconfig: flag.kubeconfig,
    env,
  });
  return { client, ref, vaults: specs, tokenName };
}

async function serve(flags: ParsedFlags, io: CommandIo): Promise<number> {
  const flag = readFlags(flags, serveFlags);
  const port = positiveInteger('--port', flag.port, true);
  const { adminPort } = flag;
  if (port > 65_535) throw new ConfigError('--port', 'must be at most 65535');
  if (adminPort !== undefined && (adminPort < 0 || adminPort > 65_535)) {
    throw new ConfigError('--admin-port', 'must be from 0 to 65535');
  }
  const { tlsCert: certFile, tlsKey: keyFile } = flag;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      certFile ? '--tls-key' : '--tls-cert',
      '--tls-cert and --tls-key go together',
    );
  }
  const level = flag.logLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new ConfigError('--log-level', `unknown level ${JSON.stringify(level)}`);
  }
  const logger = createLogger('connect-local', level);
  const dataFile = flag.data;
  // Loaded here, not at the top: every `op-kube` command would otherwise load the HTTP server.
  const { startConnectLocal } = await import('./server.ts');
  const { TokenSecretError } = await import('./token-secret.ts');
  let tokenSecret: Awaited<ReturnType<typeof tokenSecretOptions>>;
  let running: Awaited<ReturnType<typeof startConnectLocal>>;
  try {
    tokenSecret = await tokenSecretOptions(flag, io.env);
    running = await startConnectLocal(
      {
        host: flag.host,
        port,
        stateDir: flag.stateDir,
        ...(dataFile ? { dataFile } : {}),
        ...(certFile && keyFile ? { tls: { certFile, keyFile } } : {}),
        ...(adminPort !== undefined ? { adminPort } : {}),
        activityRetention: positiveInteger('--activity-retention', flag.activityRetention),
        activityAnonymousRetention: positiveInteger(
          '--activity-anonymous-retention',
          flag.activityAnonymousRetention,
        ),
        maxInlineFileBytes: positiveInteger('--max-inline-file-bytes', flag.maxInlineFileBytes),
        maxBodyBytes: positiveInteger('--max-body-bytes', flag.maxBodyBytes),
        logger,
        ...(tokenSecret ? { tokenSecret } : {}),
      },
      io.env,
    );
  } catch (error) {
    if (!(error instanceof TokenSecretError)) throw error;
    io.stderr.write(`op-kube connect-local: ${error.message}\n`);
    return ExitCode.config;
  } finally {
    // The token Secret is filled once, at start: no apiserver connection is kept.
    await tokenSecret?.client.close();
  }
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  logger.info('shutting down');
  await running.close();
  return ExitCode.ok;
}

function describeToken(record: TokenRecord, now: number): string {
  const state = record.revokedAt
    ? 'revoked'
    : record.expiresAt && Date.parse(record.expiresAt) <= now
      ? 'expired'
      : 'active';
  const vaults = record.vaults
    .map((grant) => `${grant.name}(${grant.read ? 'r' : ''}${grant.write ? 'w' : ''})`)
    .join(',');
  return [record.id, record.name, state, vaults, record.expiresAt ?? 'never'].join('\t');
}

async function tokenCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case 'create': {
      const parsed = parseFlags(Object.values(createFlags), rest, { interspersed: true });
      const [name, ...extra] = parsed.rest;
      if (!name || extra.length)
        throw new UsageError('usage: token create <name> --vault <vault>[,r|,w|,rw]');
      const flag = readFlags(parsed, createFlags);
      const { stateDir, expiresIn } = flag;
      const credentials = await ensureCredentials(stateDir);
      const vaults = await ConnectStore.readVaults(stateDir);
      if (!vaults) {
        throw new TokenCommandError(
          `no state in ${stateDir}: start connect-local with --data once first`,
        );
      }
      const specs = [...flag.vault, ...flag.vaults];
      const { token } = await createToken(stateDir, credentials, vaults, {
        name,
        vaults: specs.map(parseVaultSpec),
        ...(expiresIn !== undefined ? { expiresInSeconds: parseExpiresIn(expiresIn) } : {}),
      });
      io.stdout.write(`${token}\n`);
      return ExitCode.ok;
    }
    case 'list': {
      const parsed = parseFlags(Object.values(listFlags), rest, { interspersed: true });
      if (parsed.rest.length) throw new UsageError('usage: token list [--json]');
      const flag = readFlags(parsed, listFlags);
      const tokens = await readTokens(flag.stateDir);
      if (flag.json) {
        io.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
      } else {
        const now = Date.now();
        io.stdout.write(
          ['ID\tNAME\tSTATE\tVAULTS\tEXPIRES', ...tokens.map((t) => describeToken(t, now))].join(
            '\n',
          ) + '\n',
        );
      }
      return ExitCode.ok;
    }
    case 'revoke':
    case 'delete': {
      const parsed = parseFlags(Object.values(revokeFlags), rest, { interspersed: true });
      const [reference, ...extra] = parsed.rest;
      if (!reference || extra.length) throw new UsageError('usage: token revoke <name|id>');
      const record = await revokeToken(readFlags(parsed, revokeFlags).stateDir, reference);
      io.stderr.write(`revoked token ${record.name} (${record.id})\n`);
      return ExitCode.ok;
    }
    case 'rename':
    case 'edit': {
      const parsed = parseFlags(Object.values(renameFlags), rest, { interspersed: true });
      const [reference, ...extra] = parsed.rest;
      const { stateDir, name } = readFlags(parsed, renameFlags);
      if (!reference || extra.length || name === undefined) {
        throw new UsageError('usage: token rename <name|id> --name <new name>');
      }
      const record = await renameToken(stateDir, reference, name);
      io.stderr.write(`renamed token ${record.id} to ${record.name}\n`);
      return ExitCode.ok;
    }
    default:
      throw new UsageError(
        `unknown token command ${JSON.stringify(action ?? '')}: use create, list, revoke or rename`,
      );
  }
}

async function serverCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [action, ...rest] = args;
  if (action !== 'init')
    throw new UsageError(`unknown server command ${JSON.stringify(action ?? '')}: use init`);
  const parsed = parseFlags(Object.values(initFlags), rest, { interspersed: true });
  if (parsed.rest.length) throw new UsageError('usage: server init [--force]');
  const { stateDir, force } = readFlags(parsed, initFlags);
  const credentials = await initCredentials(stateDir, force);
  io.stderr.write(`wrote credentials for server ${credentials.serverId} in ${stateDir}\n`);
  return ExitCode.ok;
}

/** `op-kube connect-local [token … | server …]` with its parsed flags; the exit code. */
export async function runConnectLocal(flags: ParsedFlags, io: CommandIo): Promise<number> {
  const [group, ...rest] = flags.rest;
  try {
    if (group === undefined) return await serve(flags, io);
    if (group === 'token') return await tokenCommand(rest, io);
    if (group === 'server') return await serverCommand(rest, io);
    throw new UsageError(`unknown argument ${JSON.stringify(group)}: expected token or server`);
  } catch (error) {
    if (
      error instanceof TokenCommandError ||
      error instanceof CredentialsExistError ||
      error instanceof DataFileError
    ) {
      io.stderr.write(`op-kube connect-local: ${error.message}\n`);
      return ExitCode.config;
    }
    throw error;
  }
}
