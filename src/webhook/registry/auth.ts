// Registry credentials: WWW-Authenticate challenges, and the keyring Kubernetes builds from imagePullSecrets (dockerconfigjson, dockercfg). Pure.

export interface AuthChallenge {
  /** Lower case: `bearer`, `basic`. */
  readonly scheme: string;
  /** Parameter names lower case; values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * RFC 7235 challenges, several in one header allowed:
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull", Basic realm="x"`.
 * Anything it cannot read ends the list; what was read before stays.
 */
export function parseChallenges(header: string): AuthChallenge[] {
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  let at = 0;
  const token = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
  const space = /[ \t]*/y;
  const skip = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = at;
    const match = pattern.exec(header);
    if (!match) return undefined;
    at = pattern.lastIndex;
    return match[0];
  };
  while (at < header.length) {
    skip(/[ \t,]*/y);
    const scheme = skip(token);
    if (scheme === undefined) break;
    const current = { scheme: scheme.toLowerCase(), params: {} as Record<string, string> };
    challenges.push(current);
    for (;;) {
      const mark = at;
      skip(/[ \t,]*/y);
      const name = skip(token);
      skip(space);
      if (name === undefined || header[at] !== '=') {
        at = mark; // the next challenge's scheme (or the end)
        break;
      }
      at += 1;
      skip(space);
      let value: string | undefined;
      if (header[at] === '"') {
        let text = '';
        at += 1;
        while (at < header.length && header[at] !== '"') {
          if (header[at] === '\\' && at + 1 < header.length) at += 1;
          text += header[at];
          at += 1;
        }
        if (header[at] !== '"') return challenges;
        at += 1;
        value = text;
      } else {
        // Lenient: an unquoted realm URL is not a token, but some servers send one.
        value = skip(/[^\s,]*/y) ?? '';
      }
      current.params[name.toLowerCase()] = value;
    }
    if (at < header.length && !/[ \t,]/.test(header[at] ?? '')) {
      // A token68 (`Basic abc=`) or junk: skip to the next comma.
      const comma = header.indexOf(',', at);
      at = comma === -1 ? header.length : comma;
    }
  }
  return challenges;
}

export interface RegistryCredential {
  readonly username: string;
  readonly password: string;
}

interface KeyringEntry {
  readonly hostGlob: readonly string[];
  readonly port: string;
  readonly path: string;
  readonly credential: RegistryCredential;
  readonly order: number;
}

/** The parts of a key or an image location, scheme dropped: `*.example.com:5000/team`. */
function splitLocation(text: string): { host: string[]; port: string; path: string } | undefined {
  const bare = text.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = bare.indexOf('/');
  const hostPort = (slash === -1 ? bare : bare.slice(0, slash)).toLowerCase();
  const path = slash === -1 ? '' : bare.slice(slash + 1).replace(/\/+$/, '');
  const portMatch = /^(.*?)(?::(\d+))?$/.exec(hostPort);
  const host = portMatch?.[1] ?? '';
  if (host === '') return undefined;
  return { host: host.split('.'), port: portMatch?.[2] ?? '', path };
}

const DOCKER_HUB_KEYS = new Set([
  'index.docker.io',
  'docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

function globMatch(pattern: string, value: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^.]*')
      .replace(/\?/g, '[^.]')}$`,
  );
  return regex.test(value);
}

/**
 * Kubernetes' keyring (credentialprovider): keys are host[:port][/path], with `*` globs per host
 * label; a key matches an image when the hosts have as many labels and each matches, the ports
 * are equal and the key's path is a prefix of the repository. The most specific key wins (longest
 * path, then the order given). Docker Hub's keys (`https://index.docker.io/v1/`, `docker.io`)
 * match Docker Hub images.
 */
export class DockerKeyring {
  readonly #entries: KeyringEntry[] = [];

  get size(): number {
    return this.#entries.length;
  }

  add(key: string, credential: RegistryCredential): void {
    const location = splitLocation(key);
    if (!location) return;
    const hub = DOCKER_HUB_KEYS.has(location.host.join('.'));
    this.#entries.push({
      hostGlob: hub ? ['docker', 'io'] : location.host,
      port: location.port,
      // As Kubernetes (after docker's ResolveAuthConfig): a /v1/ or /v2/ path is the API version
      // (`https://index.docker.io/v1/`), not a repository prefix.
      path: location.path.replace(/^v[12](?:\/|$)/, ''),
      credential,
      order: this.#entries.length,
    });
  }

  /** `registry` as parsed from the image (`docker.io`, `host:5000`), `repository` its path. */
  lookup(registry: string, repository: string): RegistryCredential | undefined {
    return this.lookupAll(registry, repository)[0];
  }

  /** Every matching credential, most specific first: the kubelet tries them in this order. */
  lookupAll(registry: string, repository: string): RegistryCredential[] {
    const target = splitLocation(`${registry}/${repository}`);
    if (!target) return [];
    const matches = this.#entries.filter(
      (entry) =>
        entry.hostGlob.length === target.host.length &&
        entry.hostGlob.every((part, index) => globMatch(part, target.host[index] ?? '')) &&
        entry.port === target.port &&
        (entry.path === '' ||
          target.path === entry.path ||
          target.path.startsWith(`${entry.path}/`)),
    );
    matches.sort((a, b) => b.path.length - a.path.length || a.order - b.order);
    // The same credential under two keys is tried once.
    const seen = new Set<string>();
    return matches
      .map((entry) => entry.credential)
      .filter((credential) => {
        const key = `${credential.username}\0${credential.password}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function entryCredential(entry: unknown): RegistryCredential | undefined {
  if (!isRecord(entry)) return undefined;
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    return undefined;
  }
  if (
    typeof entry.username === 'string' &&
    typeof entry.password === 'string' &&
    entry.username !== ''
  ) {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

export interface PullSecretData {
  readonly type?: string;
  /** Base64 values, as the apiserver returns them. */
  readonly data?: Readonly<Record<string, string>>;
}

/**
 * Adds what a pull Secret holds, as the kubelet reads it: `.dockerconfigjson` of a Secret of type
 * kubernetes.io/dockerconfigjson (`{"auths": {key: entry}}`), `.dockercfg` of type
 * kubernetes.io/dockercfg (`{key: entry}`); an entry's `auth` (base64 user:password) wins over
 * its username and password. Anything else, or unreadable, adds nothing.
 */
export function addPullSecret(keyring: DockerKeyring, secret: PullSecretData): void {
  const read = (key: string): unknown => {
    const value = secret.data?.[key];
    if (typeof value !== 'string') return undefined;
    try {
      return JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  };
  let auths: unknown;
  if (secret.type === 'kubernetes.io/dockerconfigjson') {
    const document = read('.dockerconfigjson');
    auths = isRecord(document) ? document.auths : undefined;
  } else if (secret.type === 'kubernetes.io/dockercfg') {
    auths = read('.dockercfg');
  }
  if (!isRecord(auths)) return;
  for (const [key, entry] of Object.entries(auths)) {
    const credential = entryCredential(entry);
    if (credential) keyring.add(key, credential);
  }
}
