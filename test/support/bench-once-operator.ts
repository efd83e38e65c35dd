// A stand-in operator for the bench harness's smoke test, started where the harness starts
// 1Password's (--peer-binary): it makes every OnePasswordItem's Secret once, from Connect, then
// never looks again. The harness must see its sync through and report every later edit as never
// arrived, loudly. Environment as the real ones: KUBECONFIG, OP_CONNECT_HOST, OP_CONNECT_TOKEN,
// WATCH_NAMESPACE.
import { KubeClient } from '../../src/kube/client/client.ts';
import { loadKubeConfig } from '../../src/kube/client/kubeconfig.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const namespace = env('WATCH_NAMESPACE');
const host = env('OP_CONNECT_HOST');
const token = env('OP_CONNECT_TOKEN');
const client = new KubeClient(loadKubeConfig({ kubeconfig: env('KUBECONFIG'), env: {} }));

async function connect<T>(path: string): Promise<T> {
  const response = await fetch(`${host}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`Connect ${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

const vaults = new Map(
  (await connect<{ id: string; name: string }[]>('/v1/vaults')).map((vault) => [
    vault.name,
    vault.id,
  ]),
);
const items = await client.request<{
  items: { metadata: { name: string; uid: string }; spec: { itemPath: string } }[];
}>({ method: 'GET', path: `/apis/onepassword.com/v1/namespaces/${namespace}/onepassworditems` });
for (const item of items.items) {
  const [, vault = '', , title = ''] = item.spec.itemPath.split('/');
  const vaultId = vaults.get(vault) ?? '';
  const filter = encodeURIComponent(`title eq "${title}"`);
  const [summary] = await connect<{ id: string }[]>(`/v1/vaults/${vaultId}/items?filter=${filter}`);
  const full = await connect<{ fields?: { label?: string; value?: string }[] }>(
    `/v1/vaults/${vaultId}/items/${summary?.id ?? ''}`,
  );
  const data = Object.fromEntries(
    (full.fields ?? []).map((field) => [
      field.label ?? '',
      Buffer.from(field.value ?? '').toString('base64'),
    ]),
  );
  await client.request({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/secrets`,
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: item.metadata.name }, data },
  });
}
// Synced once; from now on it only waits to be stopped, as an operator that stopped polling would.
setInterval(() => undefined, 60_000);
