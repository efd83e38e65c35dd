// The OnePasswordItem CRD as the e2e tests apply it themselves: its manifest, and waiting until it is Established.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import yaml from 'js-yaml';
import {
  ApiextensionsV1Api,
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

/** Waits until the apiserver reports `manifest`'s CRD Established, and returns it as stored. */
export function crdEstablished(
  config: KubeConfig,
  manifest: V1CustomResourceDefinition,
): Promise<V1CustomResourceDefinition> {
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  return eventually('the OnePasswordItem CRD to be Established', async () => {
    const crd = await extensions.readCustomResourceDefinition({
      name: manifest.metadata?.name ?? '',
    });
    const established = crd.status?.conditions?.find(
      (condition) => condition.type === 'Established',
    );
    return established?.status === 'True' ? crd : undefined;
  });
}
