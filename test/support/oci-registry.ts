// A real registry for tests: Debian's docker-registry (distribution 2.8) on loopback with storage in a temporary directory, and images pushed to it over the registry HTTP API.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../tools/cluster/ports.ts';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** The htpasswd user of an authenticating registry: a bcrypt hash made once (cost 4, test only). */
export const REGISTRY_USER = 'e2e-puller';
export const REGISTRY_PASSWORD = 'e2e-registry-pass-Zq81';
const REGISTRY_PASSWORD_BCRYPT = '$2b$04$Da4S270XwbDJy.vL2bOyDeGwBvOlbqMaORhZlL61zlGIGxLEgNgni';

export interface TestRegistry {
  /** `127.0.0.1:<port>`: the image name prefix and the --registry-insecure entry. */
  readonly host: string;
  readonly port: number;
  logs(): string;
  stop(): Promise<void>;
}

export interface ImageSpec {
  readonly entrypoint?: readonly string[] | null;
  readonly cmd?: readonly string[] | null;
  readonly os?: string;
  readonly architecture?: string;
}

/** A registry on loopback; `auth` turns on htpasswd (Basic) authentication for every request. */
export async function startRegistry(
  registrar: { after(fn: () => Promise<void>): void },
  options: { readonly auth?: boolean } = {},
): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BINARY)) {
    throw new Error(
      `${REGISTRY_BINARY} is missing: apt-get install -y --no-install-recommends docker-registry (.ci/run installs it)`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'op-kube-registry-'));
  const port = await freePort();
  const htpasswd = join(dir, 'htpasswd');
  await writeFile(htpasswd, `${REGISTRY_USER}:${REGISTRY_PASSWORD_BCRYPT}\n`);
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(options.auth
      ? ['auth:', '  htpasswd:', '    realm: op-kube-e2e', `    path: ${htpasswd}`]
      : []),
    '',
  ].join('\n');
  const configFile = join(dir, 'config.yml');
  await writeFile(configFile, config);
  const child = spawn(REGISTRY_BINARY, ['serve', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  const output: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000, undefined, { ref: false })]);
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  registrar.after(stop);
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await fetch(`http://${host}/v2/`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200 || status === 401) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`docker-registry did not start:\n${output.join('')}`);
    }
    await sleep(50);
  }
  return { host, port, logs: () => output.join(''), stop };
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function basicAuth(): string {
  return `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}`;
}

/** Pushes with the registry's credentials when it has auth. */
export class RegistryPusher {
  readonly #registry: TestRegistry;
  readonly #auth: boolean;

  constructor(registry: TestRegistry, auth = false) {
    this.#registry = registry;
    this.#auth = auth;
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.#auth ? { authorization: basicAuth(), ...extra } : extra;
  }

  /** POST an upload, then PUT its bytes with the digest (monolithic upload). */
  async blob(repository: string, bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const digest = sha256(bytes);
    const base = `http://${this.#registry.host}`;
    const started = await fetch(`${base}/v2/${repository}/blobs/uploads/`, {
      method: 'POST',
      headers: this.#headers(),
    });
    if (started.status !== 202) throw new Error(`blob upload: HTTP ${started.status}`);
    const location = new URL(started.headers.get('location') ?? '', base);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, {
      method: 'PUT',
      headers: this.#headers({ 'content-type': 'application/octet-stream' }),
      body: bytes,
    });
    if (put.status !== 201) throw new Error(`blob put: HTTP ${put.status} ${await put.text()}`);
    return { digest, size: bytes.length };
  }

  async manifest(
    repository: string,
    reference: string,
    mediaType: string,
    document: unknown,
  ): Promise<{ digest: string; size: number }> {
    const bytes = Buffer.from(JSON.stringify(document));
    const response = await fetch(
      `http://${this.#registry.host}/v2/${repository}/manifests/${reference}`,
      {
        method: 'PUT',
        headers: this.#headers({ 'content-type': mediaType }),
        body: bytes,
      },
    );
    if (response.status !== 201) {
      throw new Error(`manifest put: HTTP ${response.status} ${await response.text()}`);
    }
    return { digest: sha256(bytes), size: bytes.length };
  }

  /**
   * A single-platform image: a config with Entrypoint and Cmd and one empty layer (an empty tar),
   * as an OCI manifest (or Docker schema 2 with `docker`). Returns the manifest's digest.
   */
  async image(
    repository: string,
    tag: string | undefined,
    spec: ImageSpec,
    format: 'oci' | 'docker' = 'oci',
  ): Promise<{ digest: string; size: number; mediaType: string }> {
    const layer = Buffer.alloc(1024);
    const config = Buffer.from(
      JSON.stringify({
        architecture: spec.architecture ?? 'amd64',
        os: spec.os ?? 'linux',
        config: {
          ...(spec.entrypoint !== undefined ? { Entrypoint: spec.entrypoint } : {}),
          ...(spec.cmd !== undefined ? { Cmd: spec.cmd } : {}),
        },
        rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
      }),
    );
    const oci = format === 'oci';
    const configBlob = await this.blob(repository, config);
    const layerBlob = await this.blob(repository, layer);
    const mediaType = oci
      ? 'application/vnd.oci.image.manifest.v1+json'
      : 'application/vnd.docker.distribution.manifest.v2+json';
    const manifest = {
      schemaVersion: 2,
      mediaType,
      config: {
        mediaType: oci
          ? 'application/vnd.oci.image.config.v1+json'
          : 'application/vnd.docker.container.image.v1+json',
        ...configBlob,
      },
      layers: [
        {
          mediaType: oci
            ? 'application/vnd.oci.image.layer.v1.tar'
            : 'application/vnd.docker.image.rootfs.diff.tar',
          ...layerBlob,
        },
      ],
    };
    const pushed = await this.manifest(
      repository,
      tag ?? sha256(Buffer.from(JSON.stringify(manifest))),
      mediaType,
      manifest,
    );
    return { ...pushed, mediaType };
  }

  /** A multi-platform image: one manifest per platform, then an index (OCI or Docker list) under `tag`. */
  async index(
    repository: string,
    tag: string,
    platforms: readonly ImageSpec[],
    format: 'oci' | 'docker' = 'oci',
  ): Promise<{ digest: string }> {
    const entries = [];
    for (const spec of platforms) {
      const pushed = await this.image(repository, undefined, spec, format);
      entries.push({
        mediaType: pushed.mediaType,
        digest: pushed.digest,
        size: pushed.size,
        platform: { os: spec.os ?? 'linux', architecture: spec.architecture ?? 'amd64' },
      });
    }
    const mediaType =
      format === 'oci'
        ? 'application/vnd.oci.image.index.v1+json'
        : 'application/vnd.docker.distribution.manifest.list.v2+json';
    return this.manifest(repository, tag, mediaType, {
      schemaVersion: 2,
      mediaType,
      manifests: entries,
    });
  }
}
