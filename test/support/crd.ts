// The OnePasswordItem CRD as the e2e tests apply it themselves: its manifest, and waiting until it is Established.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import yaml from 'js-yaml';
import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { eventually } from './cluster.ts';

/** crds/onepassword.com_onepassworditems.yaml, parsed. */
export async function onePasswordItemCrd(): Promise<V1CustomResourceDefinition> {
  return yaml.load(
    await readFile(join(repoRoot, 'crds', 'onepassword.com_onepassworditems.yaml'), 'utf8'),
  ) as V1CustomResourceDefinition;
}

/**
 * Waits until the apiserver reports `manifest`'s CRD Established and lists its objects, and returns
 * it as stored.
 */
export async function crdEstablished(
  config: KubeConfig,
  manifest: V1CustomResourceDefinition,
): Promise<V1CustomResourceDefinition> {
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  const crd = await eventually('the OnePasswordItem CRD to be Established', async () => {
    const crd = await extensions.readCustomResourceDefinition({
      name: manifest.metadata?.name ?? '',
    });
    const established = crd.status?.conditions?.find(
      (condition) => condition.type === 'Established',
    );
    return established?.status === 'True' ? crd : undefined;
  });
  await itemsListable(config);
  return crd;
}

/**
 * Waits until OnePasswordItems can be listed. Established is not enough: until the resource's watch
 * cache is initialised, a list is answered 429 "storage is (re)initializing" (seen in CI, a create
 * accepted and the list right after it refused).
 */
export function itemsListable(config: KubeConfig): Promise<true> {
  const custom = config.makeApiClient(CustomObjectsApi);
  return eventually('OnePasswordItems to be listable', async () => {
    await custom.listClusterCustomObject({
      group: 'onepassword.com',
      version: 'v1',
      plural: 'onepassworditems',
    });
    return true as const;
  });
}
