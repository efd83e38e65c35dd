// Runs commands in a built image the way a restricted pod would: its own user (uid 65532), read-only root, tmpfs /tmp.
import { existsSync } from 'node:fs';
import { glob, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { binaryCacheRoot } from '../cluster/paths.ts';
import { run } from './run.ts';
import { exportLayout, type ImageDirs } from './store.ts';

export interface Check {
  readonly args: readonly string[];
  /** Printed output must match, so a wrong entry point that exits 0 still fails. */
  readonly expect: RegExp;
  /** Host directories bind-mounted read-write (for the op stand-in's copy into /op/bin/). */
  readonly mounts?: readonly { readonly host: string; readonly container: string }[];
}

/**
 * runc as the node runs it: OP_KUBE_RUNC, the one tools/cluster built, or one on PATH. (Debian's
 * crun refuses this machine's hybrid cgroups; runc does not.)
 */
async function findRunc(): Promise<string | undefined> {
  if (process.env.OP_KUBE_RUNC) return process.env.OP_KUBE_RUNC;
  for await (const found of glob('runc-*/bin/runc', { cwd: binaryCacheRoot() })) {
    return join(binaryCacheRoot(), found);
  }
  try {
    return (await run('sh', ['-c', 'command -v runc'])).trim() || undefined;
  } catch {
    return undefined;
  }
}

interface RuntimeConfig {
  process: { args: string[]; terminal: boolean; user: { uid: number; gid: number } };
  root: { path: string; readonly?: boolean };
  mounts: { destination: string; type: string; source: string; options: string[] }[];
}

/** Unpacks the image once (umoci) and runs every check in it with runc; throws on the first failure. */
export async function verifyImage(
  dirs: ImageDirs,
  reference: string,
  checks: readonly Check[],
  expectedUid: number,
): Promise<void> {
  const runc = await findRunc();
  if (!runc) {
    throw new Error(
      'runc was not found (set OP_KUBE_RUNC, build the node binaries with tools/cluster, or install runc): ' +
        `cannot check that ${reference} runs`,
    );
  }
  const work = join(dirs.root, `tmp-verify-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    await exportLayout(dirs, reference, join(work, 'layout'), 'image');
    const bundle = join(work, 'bundle');
    await run('umoci', ['unpack', '--image', `${join(work, 'layout')}:image`, bundle]);
    const base = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as RuntimeConfig;
    if (base.process.user.uid !== expectedUid) {
      throw new Error(`${reference} runs as uid ${base.process.user.uid}, expected ${expectedUid}`);
    }
    for (const [index, check] of checks.entries()) {
      const config: RuntimeConfig = structuredClone(base);
      config.process.args = [...check.args];
      config.process.terminal = false;
      config.root.readonly = true;
      config.mounts.push({
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777'],
      });
      for (const mount of check.mounts ?? []) {
        config.mounts.push({
          destination: mount.container,
          type: 'bind',
          source: mount.host,
          options: ['rbind', 'rw'],
        });
      }
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
      const id = `op-kube-verify-${process.pid}-${index}`;
      const output = await run(runc, ['run', '--bundle', bundle, id]).catch((error: unknown) => {
        throw new Error(
          `${reference}: \`${check.args.join(' ')}\` failed in a read-only container: ${String(error)}`,
        );
      });
      if (!check.expect.test(output)) {
        throw new Error(
          `${reference}: \`${check.args.join(' ')}\` printed ${JSON.stringify(output.slice(0, 300))}, expected ${check.expect}`,
        );
      }
    }
  } finally {
    // umoci writes root-owned, read-only files: rm -rf copes where fs.rm may not.
    if (existsSync(work)) await run('rm', ['-rf', work]);
  }
}
