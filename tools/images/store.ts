// Where the images live: a private buildah store, archives and downloads under the per-user cache.
import { glob, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { binaryCacheRoot } from '../cluster/paths.ts';
import { run, type RunOptions } from './run.ts';

export interface ImageDirs {
  /** Holds everything below; its `.lock` serialises builds across processes. */
  readonly root: string;
  /** containers-storage of our own, so the machine's default store (and others' tools) stay untouched. */
  readonly storage: string;
  readonly runroot: string;
  /** OCI archives, named by image and content hash. */
  readonly archives: string;
  /** npm and Debian downloads kept between builds. */
  readonly downloads: string;
}

export function imageDirs(cacheRoot: string = binaryCacheRoot()): ImageDirs {
  const root = join(cacheRoot, 'images', 'op-kube');
  return {
    root,
    storage: join(root, 'storage'),
    // Run state belongs on tmpfs, but /run may not be writable for every user: keep it beside.
    runroot: join(root, 'runroot'),
    archives: join(root, 'archives'),
    downloads: join(root, 'downloads'),
  };
}

/**
 * buildah with our store. overlay, because the product image has a dozen layers that vfs would
 * copy in full; flags rather than a storage.conf so nothing global changes on the machine.
 */
export function buildah(
  dirs: ImageDirs,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  return run(
    'buildah',
    ['--root', dirs.storage, '--runroot', dirs.runroot, '--storage-driver', 'overlay', ...args],
    options,
  );
}

export async function imageExists(dirs: ImageDirs, reference: string): Promise<boolean> {
  try {
    await buildah(dirs, ['inspect', '--type', 'image', '--format', '{{.FromImageID}}', reference]);
    return true;
  } catch {
    return false;
  }
}

/** Writes the image as an OCI archive whose index names it `name` (what containerd imports). */
export async function exportArchive(
  dirs: ImageDirs,
  reference: string,
  archive: string,
  name: string,
): Promise<void> {
  await buildah(dirs, [
    'push',
    '--quiet',
    '--format',
    'oci',
    reference,
    `oci-archive:${archive}:${name}`,
  ]);
}

/** Writes the image into an OCI layout directory under `tag` (umoci unpacks from there). */
export async function exportLayout(
  dirs: ImageDirs,
  reference: string,
  layout: string,
  tag: string,
): Promise<void> {
  await buildah(dirs, ['push', '--quiet', '--format', 'oci', reference, `oci:${layout}:${tag}`]);
}

/** Paths matching `pattern` under `cwd`, relative to it. */
export async function listGlob(pattern: string, cwd: string): Promise<string[]> {
  const found: string[] = [];
  for await (const path of glob(pattern, { cwd })) found.push(path);
  return found;
}

/** Keeps the newest `keep` archives named `<prefix>-*.oci.tar`: each source change adds one (~90 MB). */
export async function pruneArchives(dirs: ImageDirs, prefix: string, keep: number): Promise<void> {
  const archives = await listGlob(`${prefix}-*.oci.tar`, dirs.archives);
  const dated = await Promise.all(
    archives.map(async (name) => ({
      name,
      mtime: (await stat(join(dirs.archives, name))).mtimeMs,
    })),
  );
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { name } of dated.slice(keep)) await rm(join(dirs.archives, name), { force: true });
}
