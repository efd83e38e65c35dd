// Certificates the node adds to the plane's PKI, issued by the plane's CA: the apiserver's serving
// certificate (re-issued to cover NODE_IP), its client identity towards the kubelet, and one
// identity per node component. Kept in the plane's pki/ folder, like the plane's own certificates.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import yaml from 'js-yaml';
import {
  CertificateAuthority,
  coversIpAddress,
  daysUntilExpiry,
  type LeafRequest,
} from '../pki.ts';
import { KUBERNETES_SERVICE_IP, NODE_IP, NODE_NAME } from './layout.ts';

const VALIDITY_DAYS = 365;
const RENEW_BEFORE_DAYS = 30;

/** The identities the node needs, by file name (`<name>.crt` / `<name>.key` in the pki folder). */
const NODE_IDENTITIES: Readonly<Record<string, LeafRequest>> = {
  'apiserver-kubelet-client': {
    subject: 'CN=kube-apiserver-kubelet-client, O=system:masters',
    client: true,
  },
  kubelet: { subject: `CN=system:node:${NODE_NAME}, O=system:nodes`, client: true },
  'kubelet-serving': {
    subject: `CN=${NODE_NAME}`,
    server: true,
    dnsNames: [NODE_NAME],
    ipAddresses: [NODE_IP],
  },
  'kube-scheduler': { subject: 'CN=system:kube-scheduler', client: true },
  'kube-scheduler-serving': {
    subject: 'CN=kube-scheduler',
    server: true,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  },
  'kube-proxy': { subject: 'CN=system:kube-proxy', client: true },
};

/** The apiserver's serving certificate, as the plane issues it plus NODE_IP. */
const APISERVER: LeafRequest = {
  subject: 'CN=kube-apiserver',
  server: true,
  dnsNames: [
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
  ],
  ipAddresses: ['127.0.0.1', '::1', KUBERNETES_SERVICE_IP, NODE_IP],
};

async function fresh(pkiDir: string, name: string): Promise<boolean> {
  const path = join(pkiDir, `${name}.crt`);
  if (!existsSync(path) || !existsSync(join(pkiDir, `${name}.key`))) return false;
  return daysUntilExpiry(await readFile(path, 'utf8')) > RENEW_BEFORE_DAYS;
}

/**
 * Issues whatever node certificate is missing or expiring. Resolves to true when the apiserver's
 * serving certificate was re-issued (a running apiserver must restart to serve it).
 */
export async function ensureNodeCertificates(pkiDir: string): Promise<boolean> {
  const ca = await CertificateAuthority.fromPem(
    {
      cert: await readFile(join(pkiDir, 'ca.crt'), 'utf8'),
      key: await readFile(join(pkiDir, 'ca.key'), 'utf8'),
    },
    VALIDITY_DAYS,
  );
  const save = async (name: string, request: LeafRequest): Promise<void> => {
    const pair = await ca.issue(request);
    await writeFile(join(pkiDir, `${name}.key`), pair.key, { mode: 0o600 });
    await writeFile(join(pkiDir, `${name}.crt`), pair.cert);
  };
  for (const [name, request] of Object.entries(NODE_IDENTITIES))
    if (!(await fresh(pkiDir, name))) await save(name, request);
  const apiserverCert = await readFile(join(pkiDir, 'apiserver.crt'), 'utf8');
  if (coversIpAddress(apiserverCert, NODE_IP)) return false;
  await save('apiserver', APISERVER);
  return true;
}

/** A kubeconfig for one node component, talking to the apiserver on loopback. */
export async function nodeKubeconfig(
  pkiDir: string,
  identity: string,
  apiserverPort: number,
): Promise<string> {
  const base64 = async (name: string): Promise<string> =>
    (await readFile(join(pkiDir, name))).toString('base64');
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'op-kube-local',
        cluster: {
          server: `https://127.0.0.1:${apiserverPort}`,
          'certificate-authority-data': await base64('ca.crt'),
        },
      },
    ],
    users: [
      {
        name: identity,
        user: {
          'client-certificate-data': await base64(`${identity}.crt`),
          'client-key-data': await base64(`${identity}.key`),
        },
      },
    ],
    contexts: [{ name: 'op-kube-local', context: { cluster: 'op-kube-local', user: identity } }],
    'current-context': 'op-kube-local',
  });
}
