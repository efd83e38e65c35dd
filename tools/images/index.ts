// The images' API for test runners: ensureImages() builds what is missing (progress lines) and says where everything is.
import { withDirectoryLock } from '../../src/util/directory-lock.ts';
import { ensureBase, type BaseImage } from './base.ts';
import { ensureProduct, type BuiltImage, type ProductOptions } from './product.ts';
import type { ProgressLog } from './run.ts';
import { ensureStandin, type StandinImage } from './standin.ts';
import { imageDirs } from './store.ts';

export type { BaseImage, BuiltImage, ProductOptions, ProgressLog, StandinImage };
export { OP_STANDIN_REPOSITORY } from './standin.ts';

export interface Images {
  readonly base: BaseImage;
  /** op-kube from ./Dockerfile; ref is the chart's default image unless options say otherwise. */
  readonly product: BuiltImage;
  /** Test fixture for --op-image (repository) and operator.1password.io/version (tag). */
  readonly opStandin: StandinImage;
}

/**
 * Builds the base, product and op stand-in images unless their content hashes are already built.
 * Safe to call from several processes: one builds, the others wait on the lock and reuse.
 */
export async function ensureImages(
  log: ProgressLog,
  options: ProductOptions = {},
): Promise<Images> {
  const dirs = imageDirs();
  return withDirectoryLock(
    `${dirs.root}/.lock`,
    async () => {
      const base = await ensureBase(dirs, log);
      const product = await ensureProduct(dirs, base, log, options);
      const opStandin = await ensureStandin(dirs, log);
      return { base, product, opStandin };
    },
    { onWait: (pid) => log(`images: waiting for another build (pid ${pid ?? 'unknown'})`) },
  );
}
