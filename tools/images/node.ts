// The worker node with the images built here imported, and the helm values that run the chart on
// them: what the node tests and `npm run demo -- --node` install charts/op-kube with.
import { ensureNodeBinaries } from '../cluster/build.ts';
import { startNode, type RunningNode } from '../cluster/node/index.ts';
import { assertNodePrerequisites } from '../cluster/node/prerequisites.ts';
import { ensureImages, type Images, type ProgressLog } from './index.ts';

export interface NodeWithImages {
  readonly node: RunningNode;
  readonly images: Images;
  /** helm --set arguments that run the chart on the images built here (and the op stand-in). */
  readonly chartImageArgs: readonly string[];
}

/**
 * Builds the images (cached by content hash), starts or reuses the plane in node mode and its node,
 * and imports the product and op stand-in images into the node's containerd. Idempotent.
 */
export async function nodeWithImages(
  log: ProgressLog,
  options: { dir?: string } = {},
): Promise<NodeWithImages> {
  // Before the image builds, which need some of the same tools: one message names all that lacks.
  assertNodePrerequisites();
  // The node's runc first: the image builds check each new image under it (a fresh machine has
  // no other runc).
  await ensureNodeBinaries(log);
  const images = await ensureImages(log);
  const node = await startNode({ log, ...options });
  await node.importImage(images.product.archive);
  await node.importImage(images.opStandin.archive);
  return { node, images, chartImageArgs: chartImageArgs(images) };
}

/** The product image is already named as the chart's default; the injector gets the stand-in. */
export function chartImageArgs(images: Images): string[] {
  const { repository, tag } = splitReference(images.product.ref);
  return [
    ...['operator', 'injector', 'connectLocal'].flatMap((component) => [
      '--set',
      `${component}.image.repository=${repository}`,
      '--set',
      `${component}.image.tag=${tag}`,
    ]),
    '--set',
    `injector.opImage=${images.opStandin.repository}`,
  ];
}

function splitReference(reference: string): { repository: string; tag: string } {
  const colon = reference.lastIndexOf(':');
  if (colon <= reference.lastIndexOf('/')) throw new Error(`image ${reference} has no tag`);
  return { repository: reference.slice(0, colon), tag: reference.slice(colon + 1) };
}
