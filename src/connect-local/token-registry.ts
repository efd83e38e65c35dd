// The running server's view of its tokens: verifies bearer tokens, and follows tokens.json so a
// revocation made by the CLI takes effect within a second.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { ServerCredentials } from './credentials.ts';
import { UnauthorizedError } from './errors.ts';
import { VAULT_READ, VAULT_WRITE, publicKeyOf, verifyToken, type ConnectClaims } from './jwt.ts';
import { TOKENS_FILE, readTokens, type TokenRecord } from './tokens.ts';

export interface Grant {
  readonly read: boolean;
  readonly write: boolean;
}

export interface Principal {
  readonly jti: string;
  readonly accountId: string;
  readonly grants: ReadonlyMap<string, Grant>;
}

const POLL_MS = 250;
/** Signature checks are the expensive part of a request; a verified token string is remembered. */
const VERIFIED_CACHE_LIMIT = 10_000;

export class TokenRegistry {
  readonly #stateDir: string;
  readonly #publicKey: KeyObject;
  readonly #kid: string;
  readonly #verified = new Map<string, ConnectClaims>();
  #records = new Map<string, TokenRecord>();
  #fingerprint = '';
  #watcher: FSWatcher | undefined;
  #poller: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;

  constructor(stateDir: string, credentials: ServerCredentials) {
    this.#stateDir = stateDir;
    this.#publicKey = publicKeyOf(credentials.signingKey);
    this.#kid = credentials.kid;
  }

  /** Loads tokens.json and starts following it (fs.watch for speed, polling as the safety net). */
  async start(): Promise<void> {
    await this.reload();
    const onChange = (): void => void this.reload();
    try {
      this.#watcher = watch(this.#stateDir, (_event, file) => {
        if (file === TOKENS_FILE) onChange();
      });
      this.#watcher.unref();
    } catch {
      // Some filesystems cannot be watched; the poller below still catches every change.
    }
    this.#poller = setInterval(onChange, POLL_MS);
    this.#poller.unref();
  }

  stop(): void {
    this.#watcher?.close();
    if (this.#poller) clearInterval(this.#poller);
  }

  /** Re-reads tokens.json when its size or modification time changed. */
  reload(): Promise<void> {
    this.#reloading ??= (async () => {
      try {
        const path = join(this.#stateDir, TOKENS_FILE);
        const info = await stat(path).catch(() => undefined);
        const fingerprint = info ? `${info.mtimeMs}:${info.size}:${info.ino}` : 'missing';
        if (fingerprint === this.#fingerprint) return;
        const records = await readTokens(this.#stateDir);
        this.#records = new Map(records.map((record) => [record.id, record]));
        this.#fingerprint = fingerprint;
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  /** The token's jti when it at least parses, for the audit log of a refused request. */
  jtiOf(token: string): string {
    return this.#verified.get(token)?.jti ?? '';
  }

  /**
   * @throws UnauthorizedError for a missing, malformed, forged, unknown, expired or revoked token
   */
  async authenticate(authorization: string | undefined, now = Date.now()): Promise<Principal> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match?.[1]) throw new UnauthorizedError('Invalid bearer token');
    const token = match[1];
    let claims = this.#verified.get(token);
    if (!claims) {
      const result = verifyToken(token, this.#publicKey, this.#kid);
      if (!result.ok) {
        throw new UnauthorizedError(
          result.failure === 'signature' ? 'Invalid token signature' : 'Invalid bearer token',
        );
      }
      claims = result.claims;
      if (this.#verified.size >= VERIFIED_CACHE_LIMIT) this.#verified.clear();
      this.#verified.set(token, claims);
    }
    if (claims.exp !== undefined && claims.exp * 1000 <= now) {
      throw new UnauthorizedError('Invalid bearer token: the token has expired');
    }
    let record = this.#records.get(claims.jti);
    if (!record) {
      // A validly signed token this server has not seen yet was just created: read tokens.json
      // now rather than make its first request wait for the watcher.
      // A reload already under way may have read the file before the token was added: two passes.
      for (let pass = 0; pass < 2 && !record; pass += 1) {
        await this.reload();
        record = this.#records.get(claims.jti);
      }
    }
    if (!record) throw new UnauthorizedError('Invalid bearer token: unknown token');
    if (record.revokedAt)
      throw new UnauthorizedError('Invalid bearer token: the token has been revoked');
    const grants = new Map<string, Grant>();
    for (const scope of claims['1password.com/vts']) {
      grants.set(scope.u, {
        read: (scope.a & VAULT_READ) !== 0,
        write: (scope.a & VAULT_WRITE) !== 0,
      });
    }
    return { jti: claims.jti, accountId: claims['1password.com/auuid'], grants };
  }
}
