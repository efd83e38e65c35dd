// The server's credentials file (like 1password-credentials.json): identity and token signing key.
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { withDirectoryLock } from '../util/directory-lock.ts';
import { newId } from './ids.ts';
import { OpKubeError } from '../kube/errors.ts';

export const CREDENTIALS_FILE = '1password-credentials.json';

export interface ServerCredentials {
  readonly format: 1;
  readonly serverId: string;
  readonly accountId: string;
  /** Key id in every token's header. */
  readonly kid: string;
  /** PKCS#8 PEM of the P-256 signing key. Never logged. */
  readonly signingKey: string;
}

export class CredentialsExistError extends OpKubeError<'CredentialsExist'> {
  override readonly name = 'CredentialsExistError';

  constructor(message: string) {
    super('CredentialsExist', message);
  }
}

function freshCredentials(): ServerCredentials {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    format: 1,
    serverId: newId(),
    accountId: newId(),
    kid: newId(),
    signingKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

async function readCredentials(stateDir: string): Promise<ServerCredentials | undefined> {
  try {
    return JSON.parse(
      await readFile(join(stateDir, CREDENTIALS_FILE), 'utf8'),
    ) as ServerCredentials;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** `server init`: writes new credentials (mode 0600); refuses to replace existing ones unless forced. */
export async function initCredentials(stateDir: string, force = false): Promise<ServerCredentials> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  return withDirectoryLock(join(stateDir, 'credentials.lock'), async () => {
    if (!force && (await readCredentials(stateDir))) {
      throw new CredentialsExistError(
        `${join(stateDir, CREDENTIALS_FILE)} exists; --force replaces it and invalidates every token`,
      );
    }
    const credentials = freshCredentials();
    await writeFileAtomic(
      join(stateDir, CREDENTIALS_FILE),
      JSON.stringify(credentials, null, 2),
      0o600,
    );
    return credentials;
  });
}

/** The state dir's credentials, created on first use so `server init` is optional. */
export async function ensureCredentials(stateDir: string): Promise<ServerCredentials> {
  const existing = await readCredentials(stateDir);
  if (existing) return existing;
  try {
    return await initCredentials(stateDir);
  } catch (error) {
    if (error instanceof CredentialsExistError) {
      const created = await readCredentials(stateDir);
      if (created) return created;
    }
    throw error;
  }
}
