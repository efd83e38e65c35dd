// The product image, built from the project's own Dockerfile on the local Node base, cached by the hash of what it copies.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, matchesGlob } from 'node:path';
import yaml from 'js-yaml';
import { repoRoot } from '../cluster/paths.ts';
import type { BaseImage } from './base.ts';
import {
  contentHash,
  contextSources,
  dockerignoreExclusions,
  normalizedReference,
  shortHash,
  type HashInput,
} from './names.ts';
import { run, type ProgressLog } from './run.ts';
import { buildah, exportArchive, listGlob, pruneArchives, type ImageDirs } from './store.ts';
import { verifyImage, type Check } from './verify.ts';

export interface ProductOptions {
  /** Default: the chart's operator.image.repository (so the chart's defaults find the image). */
  readonly repository?: string;
  /** Default: the chart's appVersion, which the chart uses when image.tag is empty. */
  readonly tag?: string;
}

export interface BuiltImage {
  /** The name pods use (chart value repository:tag). */
  readonly ref: string;
  /** OCI archive for `ctr images import`; its index names the image normalizedReference(ref). */
  readonly archive: string;
  /** The content hash the archive's file name carries. */
  readonly hash: string;
}

const chartDir = join(repoRoot, 'charts', 'op-kube');

/**
 * What each new product image must run (under runc, read-only root, uid 65532) before it is
 * exported: the CLI and each command's help, and the entries 1Password's manifests run with only
 * the image swapped — `/manager` (its operator Deployment's command) and `/injector` (its injector
 * image's entrypoint), links in the Dockerfile to bin/manager.js and bin/injector.js, executed
 * through their shebang. A missing link, a lost exec bit or a wrong target fails the build.
 */
export const PRODUCT_CHECKS: readonly Check[] = [
  { args: ['node', '/app/bin/op-kube.js', '--help'], expect: /operator/ },
  ...['operator', 'webhook', 'connect-local'].map((command) => ({
    args: ['node', '/app/bin/op-kube.js', command, '--help'],
    expect: new RegExp(`^Usage: op-kube ${command} `, 'm'),
  })),
  { args: ['/manager', '--help'], expect: /^Usage: op-kube operator /m },
  // Go's flag package spelling, as 1Password's injector takes its flags.
  { args: ['/injector', '-h'], expect: /^Usage: op-kube webhook /m },
  // 1Password's injector Deployment's preStop hook, exactly as it runs it: a no-op here.
  { args: ['/bin/sh', '-c', '/prestop.sh'], expect: /^$/ },
];

export async function productReference(options: ProductOptions = {}): Promise<string> {
  const values = yaml.load(await readFile(join(chartDir, 'values.yaml'), 'utf8')) as {
    operator?: { image?: { repository?: string } };
  };
  const chart = yaml.load(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) as {
    appVersion?: string;
  };
  const repository =
    options.repository ??
    process.env.OP_KUBE_IMAGE_REPOSITORY ??
    values.operator?.image?.repository;
  const tag = options.tag ?? process.env.OP_KUBE_IMAGE_TAG ?? chart.appVersion;
  if (!repository || !tag)
    throw new Error('charts/op-kube names no operator.image.repository or appVersion');
  return `${repository}:${tag}`;
}

/** The Dockerfile, .dockerignore, every context file a COPY reads (minus ignored ones), the base. */
export async function productInputs(base: BaseImage, ref: string): Promise<HashInput[]> {
  const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
  const ignore = existsSync(join(repoRoot, '.dockerignore'))
    ? await readFile(join(repoRoot, '.dockerignore'), 'utf8')
    : '';
  const excluded = dockerignoreExclusions(ignore);
  const inputs: HashInput[] = [
    { label: 'Dockerfile', content: dockerfile },
    { label: '.dockerignore', content: ignore },
    { label: 'base', content: base.ref },
    { label: 'name', content: ref },
  ];
  for (const source of contextSources(dockerfile)) {
    const path = join(repoRoot, source);
    const files = (await stat(path)).isDirectory()
      ? await listGlob(`${source.replace(/\/$/, '')}/**/*`, repoRoot)
      : [source];
    for (const file of files.sort()) {
      if (excluded.some((pattern) => matchesGlob(file, pattern))) continue;
      if (!(await stat(join(repoRoot, file))).isFile()) continue;
      inputs.push({ label: `context:${file}`, content: await readFile(join(repoRoot, file)) });
    }
  }
  return inputs;
}

async function npmConfig(key: string): Promise<string | undefined> {
  try {
    const value = (await run('npm', ['config', 'get', key])).trim();
    return value && value !== 'null' && value !== 'undefined' ? value : undefined;
  } catch {
    return undefined; // npm missing on the host: the build simply goes without.
  }
}

/**
 * What RUN steps borrow from the host, mounted for the build only (the image keeps none of it):
 * - the host's npm cache as an overlay (writes discarded, so the Dockerfile's `npm cache clean`
 *   cannot touch it), with prefer-offline: a package already cached is not revalidated (the
 *   lockfile pins its integrity), which turns a 2-minute `npm ci` into seconds;
 * - the CA certificates the host trusts for the registry (npm's cafile, NODE_EXTRA_CA_CERTS), so a
 *   TLS-inspecting proxy that the host accepts works inside the build too.
 */
async function npmBuildMounts(dirs: ImageDirs): Promise<string[]> {
  const mounts: string[] = [];
  const settings = ['prefer-offline=true'];
  const cache = (await npmConfig('cache')) ?? join(homedir(), '.npm');
  if (existsSync(cache)) mounts.push('--volume', `${cache}:/root/.npm:O`);
  const cafiles = [
    (await npmConfig('cafile')) ?? '/etc/ssl/certs/ca-certificates.crt',
    process.env.NODE_EXTRA_CA_CERTS,
  ].filter((file): file is string => file !== undefined && existsSync(file));
  if (cafiles.length > 0) {
    const bundle = join(dirs.root, 'build-ca.crt');
    await writeFile(
      bundle,
      (await Promise.all(cafiles.map((file) => readFile(file, 'utf8')))).join('\n'),
    );
    mounts.push('--volume', `${bundle}:/etc/op-kube-build/ca.crt:ro`);
    settings.push('cafile=/etc/op-kube-build/ca.crt');
  }
  const npmrc = join(dirs.root, 'build-npmrc');
  await writeFile(npmrc, `${settings.join('\n')}\n`);
  mounts.push('--volume', `${npmrc}:/root/.npmrc:ro`);
  return mounts;
}

export async function ensureProduct(
  dirs: ImageDirs,
  base: BaseImage,
  log: ProgressLog,
  options: ProductOptions = {},
): Promise<BuiltImage> {
  const ref = await productReference(options);
  const hash = shortHash(contentHash(await productInputs(base, ref)));
  const archive = join(dirs.archives, `product-${hash}.oci.tar`);
  if (existsSync(archive)) return { ref, archive, hash };

  const started = Date.now();
  log(`images: building ${ref} from ./Dockerfile on ${base.ref} (content ${hash})`);
  await buildah(
    dirs,
    [
      'build',
      '--isolation',
      'chroot',
      '--network',
      'host',
      '--pull=never',
      '--layers',
      // A failed RUN would otherwise leave its container (and an overlay mount) in the store.
      '--force-rm',
      '--build-arg',
      `NODE_IMAGE=${base.ref}`,
      ...(await npmBuildMounts(dirs)),
      '--tag',
      ref,
      '--file',
      join(repoRoot, 'Dockerfile'),
      repoRoot,
    ],
    {
      onLine: (line) => {
        if (
          /^\[\d+\/\d+\] STEP \d+\/\d+: (RUN|FROM)/.test(line) ||
          /^added \d+ packages/.test(line)
        ) {
          log(`images:   ${line.slice(0, 120)}`);
        }
      },
    },
  );
  log(`images:   checking ${ref} runs as uid 65532 on a read-only root`);
  await verifyImage(dirs, ref, PRODUCT_CHECKS, 65532);
  await mkdir(dirs.archives, { recursive: true });
  await rm(`${archive}.partial`, { force: true });
  await exportArchive(dirs, ref, `${archive}.partial`, normalizedReference(ref));
  await rename(`${archive}.partial`, archive);
  await pruneArchives(dirs, 'product', 3);
  log(
    `images:   ${ref} built, checked and exported in ${((Date.now() - started) / 1000).toFixed(0)}s`,
  );
  return { ref, archive, hash };
}
