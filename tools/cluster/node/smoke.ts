// A hand-run check of the worker node: `node tools/cluster/node/smoke.ts` (root; starts the node
// if needed). Pods run from images built here, logs, Service DNS from a pod, the apiserver through
// the `kubernetes` Service, and the seals: unknown names, outside addresses and pulls fail at once.
import { join } from 'node:path';
import yaml from 'js-yaml';
import { ensureNodeBinaries } from '../build.ts';
import { waitUntil } from '../probe.ts';
import { startNode } from './index.ts';
import { DNS_SERVICE_IP, KUBERNETES_SERVICE_IP } from './layout.ts';
import { run } from './run.ts';

const NAMESPACE = 'op-kube-node-smoke';
const log = (line: string): void => {
  process.stderr.write(`[smoke] ${line}\n`);
};

const node = await startNode({ log });
const kubectl = (...args: string[]): Promise<string> =>
  run(join(node.binDir, 'kubectl'), ['--kubeconfig', node.kubeconfigPath, ...args]);
const apply = (object: unknown): Promise<string> =>
  run(join(node.binDir, 'kubectl'), ['--kubeconfig', node.kubeconfigPath, 'apply', '-f', '-'], {
    input: yaml.dump(object),
  });
const binaries = await ensureNodeBinaries(log);
const socket = join(node.kubeconfigPath, '..', 'node', 'containerd', 'containerd.sock');
const corednsImage = (
  await kubectl(
    'get',
    '-n',
    'kube-system',
    'deployment/coredns',
    '-o',
    'jsonpath={.spec.template.spec.containers[0].image}',
  )
).trim();
const failures: string[] = [];
const check = async (name: string, body: () => Promise<string>): Promise<void> => {
  const started = Date.now();
  try {
    const detail = await body();
    log(`ok   ${name} (${Date.now() - started} ms)${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    failures.push(name);
    log(`FAIL ${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
};

await kubectl('delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=true');
await kubectl('create', 'namespace', NAMESPACE);
const pod = (name: string, image: string, args: string[] = []): unknown => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NAMESPACE },
  spec: {
    terminationGracePeriodSeconds: 0,
    containers: [{ name: 'main', image, imagePullPolicy: 'IfNotPresent', args }],
  },
});
const phase = async (name: string): Promise<string> =>
  (await kubectl('get', 'pod', '-n', NAMESPACE, name, '-o', 'jsonpath={.status.phase}')).trim();

await check('CoreDNS Deployment available', async () =>
  kubectl(
    'get',
    '-n',
    'kube-system',
    'deployment/coredns',
    '-o',
    'jsonpath={.status.availableReplicas}',
  ),
);
await apply(pod('local-image', corednsImage, ['-dns.port', '1053']));
await apply(pod('remote-image', 'docker.io/library/nginx:1.27'));
await check('a pod from a locally built image reaches Running', async () => {
  await waitUntil('Running', async () => (await phase('local-image')) === 'Running', {
    timeoutMs: 60_000,
  });
  return '';
});
await check('kubectl logs', async () => {
  let logs = '';
  await waitUntil(
    'CoreDNS banner',
    async () => (logs = await kubectl('logs', '-n', NAMESPACE, 'local-image')).includes('CoreDNS-'),
    { timeoutMs: 20_000 },
  );
  return JSON.stringify(logs.trim().split('\n').slice(-1)[0]);
});
await check(
  'kubectl exec reaches the kubelet (no shell in the image: the error must come from runc)',
  async () => {
    try {
      await kubectl('exec', '-n', NAMESPACE, 'local-image', '--', '/no-such-binary');
      return 'unexpectedly succeeded';
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!/no such file|not found|executable file/i.test(message)) throw error;
      return 'exec was relayed to the container';
    }
  },
);

// The pod's network namespace, through its container's pid in containerd.
const podId = (
  await kubectl(
    'get',
    'pod',
    '-n',
    NAMESPACE,
    'local-image',
    '-o',
    'jsonpath={.status.containerStatuses[0].containerID}',
  )
)
  .trim()
  .replace('containerd://', '');
const tasks = await run(binaries.ctr, [
  '--address',
  socket,
  '--namespace',
  'k8s.io',
  'tasks',
  'ls',
]);
const pid = tasks
  .split('\n')
  .find((line) => line.startsWith(podId))
  ?.split(/\s+/)[1];
const inPod = (script: string): Promise<string> =>
  run(
    'nsenter',
    [`--net=/proc/${pid}/ns/net`, process.execPath, '--input-type=module', '-e', script],
    { timeoutMs: 30_000 },
  );
const resolveScript = (name: string): string => `
  import { Resolver } from 'node:dns/promises';
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers(['${DNS_SERVICE_IP}']);
  const t = Date.now();
  try { console.log(JSON.stringify({ ok: await r.resolve4('${name}'), ms: Date.now() - t })); }
  catch (e) { console.log(JSON.stringify({ code: e.code, ms: Date.now() - t })); }`;

await check('DNS from a pod: kubernetes.default.svc.cluster.local', async () => {
  const answer = JSON.parse(await inPod(resolveScript('kubernetes.default.svc.cluster.local'))) as {
    ok?: string[];
  };
  if (answer.ok?.[0] !== KUBERNETES_SERVICE_IP) throw new Error(JSON.stringify(answer));
  return JSON.stringify(answer);
});
await check('DNS from a pod: example.com fails fast', async () => {
  const answer = JSON.parse(await inPod(resolveScript('example.com'))) as {
    code?: string;
    ms: number;
  };
  if (answer.code !== 'ENOTFOUND' || answer.ms > 500) throw new Error(JSON.stringify(answer));
  return JSON.stringify(answer);
});
await check('DNS from the host through the kube-dns Service', async () => {
  const { Resolver } = await import('node:dns/promises');
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([DNS_SERVICE_IP]);
  return (await resolver.resolve4('kube-dns.kube-system.svc.cluster.local')).join(',');
});
await check('the apiserver from a pod through the kubernetes Service', async () => {
  const out = await inPod(`
    import { request } from 'node:https';
    const req = request('https://${KUBERNETES_SERVICE_IP}/version', { rejectUnauthorized: false, timeout: 3000 }, (res) => { console.log(res.statusCode); res.resume(); });
    req.on('error', (e) => console.log(e.code)); req.end();`);
  if (!/^(200|401|403)$/.test(out.trim())) throw new Error(out);
  return `HTTP ${out.trim()}`;
});
await check('no route out of a pod (fails at once)', async () => {
  const out = await inPod(`
    import { connect } from 'node:net';
    const t = Date.now();
    const s = connect({ host: '192.0.2.1', port: 443, timeout: 3000 });
    s.on('connect', () => { console.log('connected'); s.destroy(); });
    s.on('timeout', () => { console.log('timeout'); s.destroy(); });
    s.on('error', (e) => console.log(e.code + ' ' + (Date.now() - t) + 'ms'));`);
  if (!out.startsWith('ENETUNREACH')) throw new Error(out);
  return out.trim();
});
await check(
  'an image from a remote registry fails to pull at once, with a clear event',
  async () => {
    let message = '';
    await waitUntil(
      'pull failure event',
      async () => {
        message = await kubectl(
          'get',
          'events',
          '-n',
          NAMESPACE,
          '--field-selector',
          'involvedObject.name=remote-image,reason=Failed',
          '-o',
          'jsonpath={.items[0].message}',
        );
        return message.length > 0;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    if (!/connection refused/.test(message)) throw new Error(message);
    return message;
  },
);

await kubectl('delete', 'namespace', NAMESPACE, '--wait=false');
log(
  failures.length
    ? `${failures.length} check(s) failed: ${failures.join('; ')}`
    : 'all checks passed',
);
process.exitCode = failures.length ? 1 : 0;
