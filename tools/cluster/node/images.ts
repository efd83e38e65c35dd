// The node's own images (pause, CoreDNS), built here as OCI archives with buildah from scratch, cached
// by content hash; and importImage(), which loads any OCI archive into the node's containerd.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { withDirectoryLock } from '../../../src/util/directory-lock.ts';
import type { ProgressLog } from '../build.ts';
import { binaryCacheRoot } from '../paths.ts';
import { COREDNS_VERSION } from '../versions.ts';
import { run } from './run.ts';

/** An image as an OCI archive on disk, and the name it carries inside (what pods refer to). */
export interface NodeImage {
  readonly name: string;
  readonly archive: string;
}

interface ImageRecipe {
  /** Repository part of the name; the tag is the content hash. */
  readonly repository: string;
  /** [file on disk, path in the image]. */
  readonly files: readonly (readonly [string, string])[];
  readonly entrypoint: readonly string[];
  readonly user: string;
}

const PAUSE_SOURCE = join(import.meta.dirname, 'pause');

function sha256Of(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

/** Builds the pause binary from tools/cluster/node/pause, cached by its source's hash. */
async function pauseBinary(cacheRoot: string): Promise<string> {
  const sources = await Promise.all(
    ['go.mod', 'pause.go'].map((name) => readFile(join(PAUSE_SOURCE, name))),
  );
  const home = join(cacheRoot, `pause-${sha256Of(...sources).slice(0, 16)}`);
  const binary = join(home, 'pause');
  if (existsSync(binary)) return binary;
  await mkdir(home, { recursive: true });
  await run('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', `${binary}.partial`, '.'], {
    cwd: PAUSE_SOURCE,
    env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local' },
  });
  await rename(`${binary}.partial`, binary);
  return binary;
}

function buildah(cacheRoot: string): (args: readonly string[]) => Promise<string> {
  // A private store (vfs: no overlay mounts to clean up) so this never touches the machine's images.
  const store = join(cacheRoot, 'node-images', 'buildah');
  const base = [
    '--root',
    join(store, 'root'),
    '--runroot',
    join(store, 'run'),
    '--storage-driver',
    'vfs',
  ];
  return (args) => run('buildah', [...base, ...args]);
}

/** One image from scratch: the recipe's files, entrypoint and user; rebuilt only when they change. */
async function buildImage(
  recipe: ImageRecipe,
  cacheRoot: string,
  log: ProgressLog,
): Promise<NodeImage> {
  const contents = await Promise.all(recipe.files.map(([source]) => readFile(source)));
  const tag = sha256Of(
    JSON.stringify({ ...recipe, files: recipe.files.map(([, target]) => target) }),
    ...contents,
  ).slice(0, 16);
  const name = `${recipe.repository}:${tag}`;
  const dir = join(cacheRoot, 'node-images');
  const archive = join(dir, `${recipe.repository.replaceAll('/', '_')}-${tag}.oci.tar`);
  if (existsSync(archive)) return { name, archive };
  await mkdir(dir, { recursive: true });
  return withDirectoryLock(join(dir, '.lock'), async () => {
    if (existsSync(archive)) return { name, archive };
    const started = Date.now();
    const bh = buildah(cacheRoot);
    const container = (await bh(['from', '--quiet', 'scratch'])).trim();
    try {
      for (const [source, target] of recipe.files) await bh(['copy', container, source, target]);
      await bh([
        'config',
        '--entrypoint',
        JSON.stringify(recipe.entrypoint),
        '--user',
        recipe.user,
        container,
      ]);
      await rm(`${archive}.partial`, { force: true });
      await bh([
        'commit',
        '--quiet',
        '--format',
        'oci',
        '--timestamp',
        '0',
        container,
        `oci-archive:${archive}.partial:${name}`,
      ]);
      await rename(`${archive}.partial`, archive);
    } finally {
      await bh(['rm', container]).catch(() => undefined);
    }
    log(`built image ${name} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return { name, archive };
  });
}

export interface NodeImages {
  readonly pause: NodeImage;
  readonly coredns: NodeImage;
}

/** The pause and CoreDNS images, built on first use (seconds) and cached in the binary cache. */
export async function ensureNodeImages(
  corednsBinary: string,
  log: ProgressLog,
  cacheRoot: string = binaryCacheRoot(),
): Promise<NodeImages> {
  const pause = await buildImage(
    {
      repository: 'op-kube.local/pause',
      files: [[await pauseBinary(cacheRoot), '/pause']],
      entrypoint: ['/pause'],
      user: '65535:65535',
    },
    cacheRoot,
    log,
  );
  const coredns = await buildImage(
    {
      repository: `op-kube.local/coredns-${COREDNS_VERSION}`,
      files: [[corednsBinary, '/coredns']],
      entrypoint: ['/coredns'],
      user: '65532:65532',
    },
    cacheRoot,
    log,
  );
  return { pause, coredns };
}

/**
 * Imports an OCI (or docker-save) archive into the node's containerd, in the `k8s.io` namespace the
 * kubelet uses, and unpacks it, so pods can run the names it carries with imagePullPolicy
 * IfNotPresent or Never. Importing the same archive again is cheap (content is deduplicated).
 */
export async function importArchive(
  ctr: string,
  socket: string,
  archivePath: string,
): Promise<void> {
  await run(ctr, ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', archivePath], {
    timeoutMs: 600_000,
  });
}
