// The Node 24 base image: a minimal Debian root filesystem (mmdebstrap) plus the official Node binary and npm from the npm registry.
import { existsSync } from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { contentHash, shortHash, type HashInput } from './names.ts';
import { run, type ProgressLog } from './run.ts';
import { buildah, imageExists, type ImageDirs } from './store.ts';
import {
  DEBIAN_PACKAGES,
  DEBIAN_SOURCES,
  DEBIAN_SUITE,
  NPM_VERSION,
  nodePlatformPackage,
  nodeVersion,
} from './versions.ts';

export interface BaseImage {
  /** In our buildah store; what the product build gets as NODE_IMAGE. */
  readonly ref: string;
  readonly nodeVersion: string;
}

/** Bump when the recipe below changes in a way the pinned versions do not show. */
const RECIPE = 2;

/**
 * minbase (dpkg, apt, a shell, coreutils: what `RUN npm ci` needs) without documentation, man
 * pages, locales and gconv modules, which a Node server never reads; merged /usr without the
 * usrmerge package (it pulls in perl, 50 MB). Package lists and apt caches are dropped.
 */
const MMDEBSTRAP_OPTIONS: readonly string[] = [
  '--variant=minbase',
  `--include=${DEBIAN_PACKAGES.join(',')}`,
  '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
  '--dpkgopt=path-exclude=/usr/share/man/*',
  '--dpkgopt=path-exclude=/usr/share/doc/*',
  '--dpkgopt=path-include=/usr/share/doc/*/copyright',
  '--dpkgopt=path-exclude=/usr/share/locale/*',
  '--dpkgopt=path-exclude=/usr/share/info/*',
  '--dpkgopt=path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*',
  '--dpkgopt=path-exclude=/usr/lib/aarch64-linux-gnu/gconv/*',
  '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*',
];

/** mmdebstrap's own phase lines worth showing as progress (it prints these to stderr). */
const MMDEBSTRAP_STEPS = /^I: ((?:downloading|extracting|installing|creating|success)\b.*?)\.*$/;

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function baseInputs(node: string = nodeVersion()): HashInput[] {
  return [
    { label: 'recipe', content: String(RECIPE) },
    {
      label: 'debian',
      content: JSON.stringify({ DEBIAN_SUITE, DEBIAN_SOURCES, MMDEBSTRAP_OPTIONS }),
    },
    { label: 'node', content: `${nodePlatformPackage()}@${node}` },
    { label: 'npm', content: NPM_VERSION },
  ];
}

export function baseReference(node: string = nodeVersion()): string {
  return `localhost/op-kube-build/node:${node}-${shortHash(contentHash(baseInputs(node)))}`;
}

/** `npm pack` fetches a registry tarball (integrity-checked) once; later builds reuse the file. */
async function registryTarball(dirs: ImageDirs, name: string, version: string): Promise<string> {
  const file = join(dirs.downloads, `${name}-${version}.tgz`);
  if (existsSync(file)) return file;
  await mkdir(dirs.downloads, { recursive: true });
  await run('npm', [
    'pack',
    '--silent',
    `${name}@${version}`,
    '--pack-destination',
    dirs.downloads,
  ]);
  if (!existsSync(file)) throw new Error(`npm pack ${name}@${version} did not write ${file}`);
  return file;
}

/** /usr/local as in the official image: node, npm's package, and the npm/npx links. */
async function stageNode(stage: string, nodeTarball: string, npmTarball: string): Promise<void> {
  const bin = join(stage, 'usr/local/bin');
  const npmHome = join(stage, 'usr/local/lib/node_modules/npm');
  const doc = join(stage, 'usr/local/share/doc/node');
  for (const dir of [bin, npmHome, doc]) await mkdir(dir, { recursive: true });
  await run('tar', ['-xzf', nodeTarball, '-C', bin, '--strip-components=2', 'package/bin/node']);
  await run('tar', ['-xzf', nodeTarball, '-C', doc, '--strip-components=1', 'package/LICENSE']);
  await run('tar', ['-xzf', npmTarball, '-C', npmHome, '--strip-components=1']);
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(bin, 'npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(bin, 'npx'));
}

/** Builds the base unless our store already holds it (the caller holds the images lock). */
export async function ensureBase(dirs: ImageDirs, log: ProgressLog): Promise<BaseImage> {
  const node = nodeVersion();
  const ref = baseReference(node);
  if (await imageExists(dirs, ref)) return { ref, nodeVersion: node };

  const started = Date.now();
  log(
    `images: building the Node base ${ref} (Debian ${DEBIAN_SUITE} minbase + Node ${node} + npm ${NPM_VERSION}), once`,
  );
  const work = join(dirs.root, `tmp-base-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const nodeTarball = await registryTarball(dirs, nodePlatformPackage(), node);
    const npmTarball = await registryTarball(dirs, 'npm', NPM_VERSION);
    log(`images:   Node ${node} and npm ${NPM_VERSION} fetched from the npm registry`);
    const rootfs = join(work, 'rootfs.tar');
    await run('mmdebstrap', [...MMDEBSTRAP_OPTIONS, DEBIAN_SUITE, rootfs, ...DEBIAN_SOURCES], {
      onLine: (line) => {
        const step = MMDEBSTRAP_STEPS.exec(line);
        if (step) log(`images:   mmdebstrap: ${step[1]}`);
      },
    });
    const stage = join(work, 'stage');
    await stageNode(stage, nodeTarball, npmTarball);

    const container = (await buildah(dirs, ['from', '--quiet', 'scratch'])).trim();
    try {
      await buildah(dirs, ['add', container, rootfs, '/']);
      await buildah(dirs, ['copy', container, `${stage}/`, '/']);
      await buildah(dirs, [
        'config',
        '--env',
        `PATH=${PATH}`,
        '--env',
        `NODE_VERSION=${node}`,
        '--cmd',
        'node',
        '--label',
        `org.opencontainers.image.description=op-kube build base: Debian ${DEBIAN_SUITE} minbase, Node ${node}, npm ${NPM_VERSION}`,
        container,
      ]);
      await buildah(dirs, ['commit', '--quiet', '--rm', container, ref]);
    } catch (error) {
      await buildah(dirs, ['rm', container]).catch(() => undefined);
      throw error;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  log(`images:   base built in ${((Date.now() - started) / 1000).toFixed(0)}s`);
  return { ref, nodeVersion: node };
}
