// Connect tokens as `op connect token` manages them: issue, list, revoke, rename, in tokens.json.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Vault } from '../connect/index.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { withDirectoryLock } from '../util/directory-lock.ts';
import type { ServerCredentials } from './credentials.ts';
import { newId } from './ids.ts';
import { CONNECT_AUDIENCE, VAULT_READ, VAULT_WRITE, signToken } from './jwt.ts';
import { OpKubeError } from '../kube/errors.ts';

export const TOKENS_FILE = 'tokens.json';

export interface VaultGrant {
  readonly id: string;
  readonly name: string;
  readonly read: boolean;
  readonly write: boolean;
}

export interface TokenRecord {
  /** The token's jti. */
  readonly id: string;
  readonly name: string;
  readonly vaults: readonly VaultGrant[];
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly revokedAt?: string;
}

interface TokensFile {
  readonly format: 1;
  readonly tokens: readonly TokenRecord[];
}

/** A token command that cannot be carried out; the CLI prints it and exits 1. */
export class TokenCommandError extends OpKubeError<'InvalidTokenCommand'> {
  override readonly name = 'TokenCommandError';

  constructor(message: string) {
    super('InvalidTokenCommand', message);
  }
}

export interface VaultSpec {
  readonly vault: string;
  readonly read: boolean;
  readonly write: boolean;
}

/** `Name`, `Name,r`, `Name,w` or `Name,rw`; no suffix grants read and write, as the op CLI does. */
export function parseVaultSpec(text: string): VaultSpec {
  const comma = text.lastIndexOf(',');
  const suffix =
    comma === -1
      ? ''
      : text
          .slice(comma + 1)
          .trim()
          .toLowerCase();
  if (comma !== -1 && ['r', 'w', 'rw', 'wr'].includes(suffix)) {
    const vault = text.slice(0, comma).trim();
    if (!vault) throw new TokenCommandError(`--vault ${JSON.stringify(text)}: missing vault name`);
    return { vault, read: suffix.includes('r'), write: suffix.includes('w') };
  }
  if (comma !== -1) {
    throw new TokenCommandError(
      `--vault ${JSON.stringify(text)}: permission must be r, w or rw after the comma`,
    );
  }
  if (!text.trim()) throw new TokenCommandError('--vault needs a vault name or id');
  return { vault: text.trim(), read: true, write: true };
}

const MAX_EXPIRY_S = 100 * 365 * 86_400;
const EXPIRY_UNITS_S: Readonly<Record<string, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
};

/** `--expires-in`: (s)econds, (m)inutes, (h)ours, (d)ays and/or (w)eeks, e.g. 30d, 1w2d, 90m. */
export function parseExpiresIn(text: string): number {
  if (!/^(\d+[smhdw])+$/.test(text)) {
    throw new TokenCommandError(
      `--expires-in ${JSON.stringify(text)}: expected a duration such as 90m, 12h, 30d or 1w2d`,
    );
  }
  let seconds = 0;
  for (const [, amount = '0', unit = 's'] of text.matchAll(/(\d+)([smhdw])/g)) {
    seconds += Number(amount) * (EXPIRY_UNITS_S[unit] ?? 0);
  }
  if (seconds <= 0) throw new TokenCommandError('--expires-in must be longer than zero');
  if (seconds > MAX_EXPIRY_S) throw new TokenCommandError('--expires-in must be at most 100 years');
  return seconds;
}

export async function readTokens(stateDir: string): Promise<TokenRecord[]> {
  try {
    const file = JSON.parse(await readFile(join(stateDir, TOKENS_FILE), 'utf8')) as TokensFile;
    return [...file.tokens];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Read-modify-write of tokens.json under a lock, so concurrent commands never lose an update. */
async function updateTokens<T>(
  stateDir: string,
  change: (tokens: TokenRecord[]) => { tokens: TokenRecord[]; result: T },
): Promise<T> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  return withDirectoryLock(join(stateDir, 'tokens.lock'), async () => {
    const { tokens, result } = change(await readTokens(stateDir));
    const file: TokensFile = { format: 1, tokens };
    await writeFileAtomic(join(stateDir, TOKENS_FILE), JSON.stringify(file, null, 2), 0o600);
    return result;
  });
}

function resolveVault(vaults: readonly Vault[], reference: string): Vault {
  const byId = vaults.find((vault) => vault.id === reference);
  if (byId) return byId;
  const byName = vaults
    .filter((vault) => vault.name.toLowerCase() === reference.toLowerCase())
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const [oldest] = byName;
  if (!oldest)
    throw new TokenCommandError(`no vault named or with id ${JSON.stringify(reference)}`);
  return oldest;
}

/** The grants `specs` ask for, one per vault (permissions of repeated vaults combined). */
export function resolveGrants(
  knownVaults: readonly Vault[],
  specs: readonly VaultSpec[],
): VaultGrant[] {
  if (specs.length === 0) throw new TokenCommandError('a token needs at least one --vault');
  const grants = new Map<string, VaultGrant>();
  for (const spec of specs) {
    const vault = resolveVault(knownVaults, spec.vault);
    const previous = grants.get(vault.id);
    grants.set(vault.id, {
      id: vault.id,
      name: vault.name,
      read: spec.read || (previous?.read ?? false),
      write: spec.write || (previous?.write ?? false),
    });
  }
  return [...grants.values()];
}

export interface CreateTokenRequest {
  readonly name: string;
  readonly vaults: readonly VaultSpec[];
  readonly expiresInSeconds?: number;
}

/** Issues a token for existing vaults and records it; returns the JWT (shown once, never stored). */
export async function createToken(
  stateDir: string,
  credentials: ServerCredentials,
  knownVaults: readonly Vault[],
  request: CreateTokenRequest,
  now = new Date(),
): Promise<{ token: string; record: TokenRecord }> {
  if (!request.name.trim()) throw new TokenCommandError('a token needs a name');
  const grants = resolveGrants(knownVaults, request.vaults);
  const issuedAt = Math.floor(now.getTime() / 1000);
  const expires =
    request.expiresInSeconds === undefined ? undefined : issuedAt + request.expiresInSeconds;
  const record: TokenRecord = {
    id: newId(),
    name: request.name,
    vaults: grants,
    createdAt: now.toISOString(),
    ...(expires !== undefined ? { expiresAt: new Date(expires * 1000).toISOString() } : {}),
  };
  const token = signToken(
    {
      aud: [CONNECT_AUDIENCE],
      sub: credentials.serverId,
      jti: record.id,
      iat: issuedAt,
      ...(expires !== undefined ? { exp: expires } : {}),
      '1password.com/auuid': credentials.accountId,
      '1password.com/fts': ['vaultaccess'],
      '1password.com/vts': record.vaults.map((grant) => ({
        u: grant.id,
        a: (grant.read ? VAULT_READ : 0) | (grant.write ? VAULT_WRITE : 0),
      })),
      '1password.com/token': randomBytes(16).toString('base64url'),
    },
    credentials.signingKey,
    credentials.kid,
  );
  await updateTokens(stateDir, (tokens) => ({ tokens: [...tokens, record], result: undefined }));
  return { token, record };
}

function findToken(tokens: readonly TokenRecord[], reference: string): number {
  const byId = tokens.findIndex((token) => token.id === reference);
  if (byId !== -1) return byId;
  const byName = tokens.flatMap((token, index) => (token.name === reference ? [index] : []));
  if (byName.length > 1) {
    throw new TokenCommandError(
      `${byName.length} tokens are named ${JSON.stringify(reference)}: use the id`,
    );
  }
  const [index] = byName;
  if (index === undefined)
    throw new TokenCommandError(`no token named or with id ${JSON.stringify(reference)}`);
  return index;
}

export async function revokeToken(
  stateDir: string,
  reference: string,
  now = new Date(),
): Promise<TokenRecord> {
  return updateTokens(stateDir, (tokens) => {
    const index = findToken(tokens, reference);
    const current = tokens[index] as TokenRecord;
    const revoked = current.revokedAt ? current : { ...current, revokedAt: now.toISOString() };
    const next = [...tokens];
    next[index] = revoked;
    return { tokens: next, result: revoked };
  });
}

export async function renameToken(
  stateDir: string,
  reference: string,
  name: string,
): Promise<TokenRecord> {
  if (!name.trim()) throw new TokenCommandError('--name must not be empty');
  return updateTokens(stateDir, (tokens) => {
    const index = findToken(tokens, reference);
    const renamed = { ...(tokens[index] as TokenRecord), name };
    const next = [...tokens];
    next[index] = renamed;
    return { tokens: next, result: renamed };
  });
}
