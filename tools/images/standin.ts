// The `op` stand-in test fixture: its static Go binary and an image laid out like 1password/op (op in /usr/local/bin, a busybox shell).
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { contentHash, shortHash, type HashInput } from './names.ts';
import type { BuiltImage } from './product.ts';
import { run, type ProgressLog } from './run.ts';
import { buildah, exportArchive, listGlob, pruneArchives, type ImageDirs } from './store.ts';
import { verifyImage } from './verify.ts';
import { BUSYBOX_PACKAGE } from './versions.ts';

/** Named as a test fixture so nobody mistakes it for 1Password's image. */
export const OP_STANDIN_REPOSITORY = 'localhost/op-kube-test/op-standin';

export const OP_STANDIN_SOURCE = join(import.meta.dirname, 'op-standin');

/** Pods get it through `--op-image=<repository>` plus the annotation operator.1password.io/version=<tag>. */
export interface StandinImage extends BuiltImage {
  readonly repository: string;
  readonly tag: string;
  /** The static binary, for tests that run it outside a container. */
  readonly binary: string;
}

/** The applets the webhook's copy-op-bin command and a debugging shell need. */
const APPLETS = ['sh', 'cp', 'ls', 'cat', 'env', 'echo'];

async function sourceInputs(): Promise<HashInput[]> {
  const names = (await readdir(OP_STANDIN_SOURCE))
    .filter((name) => /\.(go|mod|sum)$/.test(name))
    .sort();
  return Promise.all(
    names.map(async (name) => ({
      label: `op-standin/${name}`,
      content: await readFile(join(OP_STANDIN_SOURCE, name)),
    })),
  );
}

/** Builds the binary once per source hash (CGO off: static, runs in any image). */
export async function buildStandinBinary(dirs: ImageDirs): Promise<string> {
  const hash = shortHash(contentHash(await sourceInputs()));
  const binary = join(dirs.root, `op-standin-${hash}`, 'op');
  if (existsSync(binary)) return binary;
  await mkdir(join(dirs.root, `op-standin-${hash}`), { recursive: true });
  // Tests build it outside the images lock: a private partial name keeps concurrent builds apart.
  const partial = `${binary}.${process.pid}.partial`;
  await run('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', partial, '.'], {
    cwd: OP_STANDIN_SOURCE,
    env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' },
  });
  await rename(partial, binary);
  return binary;
}

/** Debian's static busybox, downloaded once with apt-get; the .deb's bytes are part of the hash. */
async function busyboxDeb(dirs: ImageDirs): Promise<string> {
  const pattern = `${BUSYBOX_PACKAGE}_*.deb`;
  const existing = await listGlob(pattern, dirs.downloads);
  if (existing[0]) return join(dirs.downloads, existing[0]);
  await mkdir(dirs.downloads, { recursive: true });
  await run('apt-get', ['download', BUSYBOX_PACKAGE], { cwd: dirs.downloads });
  const downloaded = await listGlob(pattern, dirs.downloads);
  if (!downloaded[0]) throw new Error(`apt-get download ${BUSYBOX_PACKAGE} wrote no ${pattern}`);
  return join(dirs.downloads, downloaded[0]);
}

export async function ensureStandin(dirs: ImageDirs, log: ProgressLog): Promise<StandinImage> {
  const deb = await busyboxDeb(dirs);
  const tag = shortHash(
    contentHash([
      ...(await sourceInputs()),
      { label: 'busybox', content: await readFile(deb) },
      { label: 'layout', content: JSON.stringify({ APPLETS, recipe: 1 }) },
    ]),
  );
  const ref = `${OP_STANDIN_REPOSITORY}:${tag}`;
  const archive = join(dirs.archives, `op-standin-${tag}.oci.tar`);
  const binary = await buildStandinBinary(dirs);
  const result = { ref, archive, hash: tag, repository: OP_STANDIN_REPOSITORY, tag, binary };
  if (existsSync(archive)) return result;

  const started = Date.now();
  log(`images: building the op stand-in test fixture ${ref}`);
  const work = join(dirs.root, `tmp-standin-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'bin'), { recursive: true });
  try {
    await run('dpkg-deb', ['-x', deb, join(work, 'deb')]);
    const container = (await buildah(dirs, ['from', '--quiet', 'scratch'])).trim();
    try {
      await buildah(dirs, [
        'copy',
        '--chmod',
        '0755',
        container,
        join(work, 'deb', 'bin', 'busybox'),
        '/bin/busybox',
      ]);
      await buildah(dirs, ['copy', '--chmod', '0755', container, binary, '/usr/local/bin/op']);
      // Applet links are made on the host: the image has no shell until they exist.
      const links = join(work, 'links');
      await mkdir(join(links, 'bin'), { recursive: true });
      await mkdir(join(links, 'tmp'), { recursive: true });
      for (const applet of APPLETS) await run('ln', ['-s', 'busybox', join(links, 'bin', applet)]);
      await buildah(dirs, ['copy', container, `${links}/`, '/']);
      await buildah(dirs, [
        'config',
        '--entrypoint',
        JSON.stringify(['/usr/local/bin/op']),
        '--cmd',
        '--help',
        '--env',
        'PATH=/usr/local/bin:/bin',
        '--user',
        '65532:65532',
        '--label',
        'org.opencontainers.image.title=op-standin (op-kube TEST FIXTURE, not 1Password op)',
        '--label',
        'org.opencontainers.image.description=Test-only stand-in for 1Password op: op run resolves op:// references through Connect',
        container,
      ]);
      await buildah(dirs, ['commit', '--quiet', '--rm', container, ref]);
    } catch (error) {
      await buildah(dirs, ['rm', container]).catch(() => undefined);
      throw error;
    }
    log(`images:   checking the stand-in's copy-op-bin command as uid 65532 on a read-only root`);
    const opBin = join(work, 'op-bin');
    await mkdir(opBin, { mode: 0o777 });
    await run('chmod', ['1777', opBin]);
    await verifyImage(
      dirs,
      ref,
      [
        { args: ['/usr/local/bin/op', '--version'], expect: /op-kube-test-standin/ },
        // The webhook's copy-op-bin container (src/webhook/mutate.ts), into an emptyDir-like mount.
        {
          args: ['sh', '-c', 'cp /usr/local/bin/op /op/bin/ && /op/bin/op --version'],
          expect: /standin/,
          mounts: [{ host: opBin, container: '/op/bin' }],
        },
      ],
      65532,
    );
    await mkdir(dirs.archives, { recursive: true });
    await rm(`${archive}.partial`, { force: true });
    await exportArchive(dirs, ref, `${archive}.partial`, ref);
    await rename(`${archive}.partial`, archive);
    await pruneArchives(dirs, 'op-standin', 3);
  } finally {
    await run('rm', ['-rf', work]);
  }
  log(
    `images:   op stand-in built, checked and exported in ${((Date.now() - started) / 1000).toFixed(0)}s`,
  );
  return result;
}
