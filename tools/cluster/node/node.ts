// One worker node beside a local control plane: containerd, kubelet, kube-proxy, kube-scheduler and
// CoreDNS on a sealed bridge network. Started detached and reused, like the plane's processes.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, readlink, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureNodeBinaries, type NodeBinaries, type ProgressLog } from '../build.ts';
import { httpsGet, waitUntil } from '../probe.ts';
import { freePort } from '../ports.ts';
import {
  belongsTo,
  commandLineOf,
  componentStatus,
  processesMentioning,
  spawnDetached,
  stopProcess,
} from '../processes.ts';
import { readStateFile, writeStateFile } from '../state-file.ts';
import { ensureNodeCertificates, nodeKubeconfig } from './certificates.ts';
import {
  removeFixedPathLeftovers,
  removePodCgroups,
  removeStrayChains,
  unmountUnder,
} from './cleanup.ts';
import {
  cniConflist,
  containerdConfig,
  kubeletConfig,
  kubeProxyConfig,
  refusedRegistryHosts,
} from './config.ts';
import { corednsManifests } from './coredns.ts';
import { ensureNodeImages, importArchive, type NodeImages } from './images.ts';
import { NODE_IP, NODE_NAME } from './layout.ts';
import {
  claimNetwork,
  ownsNetwork,
  releaseNetwork,
  setUpNetwork,
  tearDownNetwork,
} from './network.ts';
import { run } from './run.ts';

export const NODE_COMPONENTS = ['containerd', 'kube-scheduler', 'kubelet', 'kube-proxy'] as const;
export type NodeComponent = (typeof NODE_COMPONENTS)[number];

const START_TIMEOUT_MS = 120_000;
const SHIM = 'containerd-shim-runc-v2';

interface NodeState {
  readonly pids: Partial<Record<NodeComponent, number>>;
  /** The apiserver port the node's kubeconfigs point at; a plane restarted elsewhere means a new node. */
  readonly apiserverPort: number;
  readonly schedulerPort: number;
  readonly sandboxImage: string;
  readonly corednsImage: string;
}

/** What the node needs from the plane it joins. */
export interface PlaneAccess {
  /** The plane's folder; the node lives in `<dir>/node`, its certificates in `<dir>/pki`. */
  readonly dir: string;
  readonly apiserverPort: number;
  /** kubectl and the admin kubeconfig. */
  readonly kubectl: string;
  readonly kubeconfig: string;
}

export type NodeStatus = Readonly<Record<NodeComponent, { running: boolean; pid?: number }>>;

async function tailOf(file: string, lines = 25): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export class LocalNode {
  readonly planeDir: string;
  readonly dir: string;
  readonly #log: ProgressLog;

  constructor(planeDir: string, log: ProgressLog = () => {}) {
    this.planeDir = planeDir;
    this.dir = join(planeDir, 'node');
    this.#log = log;
  }

  #path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  get containerdSocket(): string {
    return this.#path('containerd', 'containerd.sock');
  }

  #pki(name: string): string {
    return join(this.planeDir, 'pki', name);
  }

  #readState(): Promise<NodeState | undefined> {
    return readStateFile<NodeState>(this.#path('state.json'));
  }

  #writeState(state: NodeState): Promise<void> {
    return writeStateFile(this.#path('state.json'), state);
  }

  #belongs(name: string): (argv: readonly string[]) => boolean {
    return belongsTo(name, this.dir);
  }

  async status(): Promise<NodeStatus> {
    const state = await this.#readState();
    const entry = (component: NodeComponent): { running: boolean; pid?: number } => {
      const pid = state?.pids[component];
      return componentStatus(pid, component, this.dir);
    };
    return {
      containerd: entry('containerd'),
      'kube-scheduler': entry('kube-scheduler'),
      kubelet: entry('kubelet'),
      'kube-proxy': entry('kube-proxy'),
    };
  }

  /**
   * Starts whatever of the node is not running, then waits for the Node to be Ready and CoreDNS to be
   * available. The caller holds the plane's lock and has started the plane in node mode.
   */
  async up(plane: PlaneAccess): Promise<'started' | 'already-running'> {
    const binaries = await ensureNodeBinaries(this.#log);
    const images = await ensureNodeImages(binaries.coredns, this.#log);
    const current = await this.status();
    let state = await this.#readState();
    const samePlane = state?.apiserverPort === plane.apiserverPort;
    if (state && samePlane && NODE_COMPONENTS.every((component) => current[component].running)) {
      await this.#waitNodeReady(plane);
      return 'already-running';
    }
    if (!state || !samePlane || NODE_COMPONENTS.every((component) => !current[component].running)) {
      await this.#teardown(binaries);
      state = await this.#prepare(plane, binaries, images);
    }
    const started: NodeComponent[] = [];
    try {
      for (const component of NODE_COMPONENTS) {
        if (current[component].running) continue;
        state = await this.#start(component, state, binaries, plane);
        started.push(component);
        if (component === 'containerd') {
          await this.importImage(binaries, images.pause.archive);
          await this.importImage(binaries, images.coredns.archive);
        }
      }
      await this.#waitNodeReady(plane);
      await this.#deployCoredns(plane, images);
    } catch (error) {
      for (const component of started.reverse()) await this.#stopOne(component);
      throw error;
    }
    return 'started';
  }

  /** Loads an OCI archive into this node's containerd (see images.ts importArchive). */
  async importImage(binaries: NodeBinaries, archivePath: string): Promise<void> {
    await importArchive(binaries.ctr, this.containerdSocket, archivePath);
  }

  async #prepare(
    plane: PlaneAccess,
    binaries: NodeBinaries,
    images: NodeImages,
  ): Promise<NodeState> {
    this.#log('preparing the node (network, configuration)');
    for (const folder of [
      'logs',
      'containerd',
      'certs.d/_default',
      'net.d',
      'kubelet',
      'pod-logs',
      'config',
    ])
      await mkdir(this.#path(folder), { recursive: true });
    await ensureNodeCertificates(join(this.planeDir, 'pki'));
    await claimNetwork(this.dir);
    await setUpNetwork(plane.apiserverPort, this.#path('network.json'));
    const config = (name: string): string => this.#path('config', name);
    await writeFile(
      config('containerd.toml'),
      containerdConfig({
        root: this.#path('containerd', 'root'),
        state: this.#path('containerd', 'state'),
        socket: this.containerdSocket,
        runc: binaries.runc,
        cniBinDir: binaries.cniBinDir,
        cniConfDir: this.#path('net.d'),
        registryHostsDir: this.#path('certs.d'),
        sandboxImage: images.pause.name,
      }),
    );
    await writeFile(this.#path('certs.d', '_default', 'hosts.toml'), refusedRegistryHosts());
    await writeFile(
      this.#path('net.d', '10-op-kube.conflist'),
      cniConflist(this.#path('cni-ipam')),
    );
    await writeFile(config('resolv.conf'), '# pods resolve through CoreDNS only\n');
    await writeFile(
      config('kubelet.yaml'),
      kubeletConfig({
        caFile: this.#pki('ca.crt'),
        tlsCertFile: this.#pki('kubelet-serving.crt'),
        tlsKeyFile: this.#pki('kubelet-serving.key'),
        containerdSocket: this.containerdSocket,
        resolvConf: config('resolv.conf'),
        podLogsDir: this.#path('pod-logs'),
      }),
    );
    await writeFile(config('kube-proxy.yaml'), kubeProxyConfig(config('kube-proxy.kubeconfig')));
    for (const identity of ['kubelet', 'kube-proxy', 'kube-scheduler'])
      await writeFile(
        config(`${identity}.kubeconfig`),
        await nodeKubeconfig(join(this.planeDir, 'pki'), identity, plane.apiserverPort),
        { mode: 0o600 },
      );
    const state: NodeState = {
      pids: {},
      apiserverPort: plane.apiserverPort,
      schedulerPort: await freePort(),
      sandboxImage: images.pause.name,
      corednsImage: images.coredns.name,
    };
    await this.#writeState(state);
    return state;
  }

  #command(component: NodeComponent, state: NodeState, binaries: NodeBinaries): [string, string[]] {
    const config = (name: string): string => this.#path('config', name);
    switch (component) {
      case 'containerd':
        return [
          binaries.containerd,
          ['--config', config('containerd.toml'), '--log-level', 'warn'],
        ];
      case 'kube-scheduler':
        return [
          binaries.kubeScheduler,
          [
            `--kubeconfig=${config('kube-scheduler.kubeconfig')}`,
            `--authentication-kubeconfig=${config('kube-scheduler.kubeconfig')}`,
            `--authorization-kubeconfig=${config('kube-scheduler.kubeconfig')}`,
            '--bind-address=127.0.0.1',
            `--secure-port=${state.schedulerPort}`,
            `--tls-cert-file=${this.#pki('kube-scheduler-serving.crt')}`,
            `--tls-private-key-file=${this.#pki('kube-scheduler-serving.key')}`,
            '--leader-elect=false',
            '--profiling=false',
            '--v=1',
          ],
        ];
      case 'kubelet':
        return [
          binaries.kubelet,
          [
            `--config=${config('kubelet.yaml')}`,
            `--kubeconfig=${config('kubelet.kubeconfig')}`,
            `--root-dir=${this.#path('kubelet')}`,
            `--cert-dir=${this.#path('kubelet', 'pki')}`,
            `--hostname-override=${NODE_NAME}`,
            `--node-ip=${NODE_IP}`,
            '--v=1',
          ],
        ];
      case 'kube-proxy':
        return [binaries.kubeProxy, [`--config=${config('kube-proxy.yaml')}`, '--v=1']];
    }
  }

  async #start(
    component: NodeComponent,
    state: NodeState,
    binaries: NodeBinaries,
    plane: PlaneAccess,
  ): Promise<NodeState> {
    const logFile = this.#path('logs', `${component}.log`);
    this.#log(`starting ${component}`);
    const [binary, args] = this.#command(component, state, binaries);
    // containerd finds its shim (and the shim finds nothing else) on PATH.
    const env = {
      ...process.env,
      PATH: [...binaries.runtimeBinDirs, process.env.PATH ?? ''].join(':'),
    };
    const child = await spawnDetached(binary, args, logFile, this.dir, env);
    const next: NodeState = { ...state, pids: { ...state.pids, [component]: child.pid } };
    await this.#writeState(next);
    try {
      await waitUntil(
        `${component} readiness`,
        () => this.#ready(component, next, binaries, plane),
        {
          timeoutMs: START_TIMEOUT_MS,
          intervalMs: 250,
          abort: child.exited,
        },
      );
    } catch (error) {
      await stopProcess(child.pid, this.#belongs(component));
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`${reason}\nlast lines of ${logFile}:\n${await tailOf(logFile)}`);
    }
    child.release();
    return next;
  }

  async #ready(
    component: NodeComponent,
    state: NodeState,
    binaries: NodeBinaries,
    plane: PlaneAccess,
  ): Promise<boolean> {
    switch (component) {
      case 'containerd':
        await run(binaries.ctr, ['--address', this.containerdSocket, 'version'], {
          timeoutMs: 5000,
        });
        return true;
      case 'kube-scheduler':
        return (
          (
            await httpsGet(`https://127.0.0.1:${state.schedulerPort}/healthz`, {
              ca: await readFile(this.#pki('ca.crt'), 'utf8'),
            })
          ).body === 'ok'
        );
      case 'kubelet':
        return (await fetch('http://127.0.0.1:10248/healthz')).ok;
      case 'kube-proxy':
        return (await fetch('http://127.0.0.1:10256/healthz')).ok;
    }
    return plane.apiserverPort > 0;
  }

  #kubectl(plane: PlaneAccess, args: readonly string[], input?: string): Promise<string> {
    return run(plane.kubectl, ['--kubeconfig', plane.kubeconfig, ...args], {
      timeoutMs: START_TIMEOUT_MS,
      ...(input === undefined ? {} : { input }),
    });
  }

  async #waitNodeReady(plane: PlaneAccess): Promise<void> {
    await waitUntil(
      `Node ${NODE_NAME} Ready`,
      async () =>
        (
          await this.#kubectl(plane, [
            'get',
            'node',
            NODE_NAME,
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
          ])
        ).trim() === 'True',
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 500 },
    );
  }

  async #deployCoredns(plane: PlaneAccess, images: NodeImages): Promise<void> {
    this.#log('deploying CoreDNS');
    await this.#kubectl(plane, ['apply', '-f', '-'], corednsManifests(images.coredns.name));
    await this.#kubectl(plane, [
      'rollout',
      'status',
      '--namespace=kube-system',
      'deployment/coredns',
      `--timeout=${START_TIMEOUT_MS / 1000}s`,
    ]);
  }

  async #stopOne(component: NodeComponent): Promise<void> {
    const state = await this.#readState();
    const pid = state?.pids[component];
    if (pid !== undefined) await stopProcess(pid, this.#belongs(component));
    if (state) {
      const pids = { ...state.pids };
      delete pids[component];
      await this.#writeState({ ...state, pids });
    }
  }

  /** Stops every process of the node and removes all it made. Resolves to the processes stopped. */
  async down(): Promise<number> {
    if (!existsSync(this.dir)) return 0;
    const binaries = await ensureNodeBinaries(this.#log);
    return this.#teardown(binaries);
  }

  async #teardown(binaries: NodeBinaries): Promise<number> {
    let stopped = 0;
    // Host-wide cleanup (rules, bridge, pod cgroups) only for the node that owns them.
    const owner = await ownsNetwork(this.dir);
    const state = await this.#readState();
    for (const component of ['kubelet', 'kube-proxy', 'kube-scheduler'] as const) {
      const pid = state?.pids[component];
      if (pid !== undefined && (await stopProcess(pid, this.#belongs(component)))) stopped += 1;
    }
    // Containers are not children of anything we stop: kill them through their cgroups.
    if (owner) await removePodCgroups();
    const containerd = state?.pids.containerd;
    if (containerd !== undefined && (await stopProcess(containerd, this.#belongs('containerd'))))
      stopped += 1;
    for (const pid of processesMentioning(`${this.dir}/`)) {
      const argv = commandLineOf(pid) ?? [];
      const name = [...NODE_COMPONENTS, SHIM].find((candidate) => this.#belongs(candidate)(argv));
      if (name && (await stopProcess(pid, this.#belongs(name), 3000))) stopped += 1;
    }
    if (owner) {
      await run(binaries.kubeProxy, ['--cleanup', '--v=0']).catch(() => undefined);
      await removeStrayChains();
    }
    await unmountUnder(this.dir);
    if (owner) {
      await removePodCgroups();
      await tearDownNetwork(this.#path('network.json'));
      await releaseNetwork(this.dir);
    }
    await this.#removeContainerLogLinks();
    // libcni names its cache entries `<network>-<sandbox id>-<interface>`: the node's network is
    // op-kube, and its sandboxes' loopbacks use the same ids.
    const sandboxes = new Set(
      (await readdir('/var/lib/cni/results').catch(() => [] as string[]))
        .map((entry) => /^op-kube-([0-9a-f]{64})-/.exec(entry)?.[1])
        .filter(Boolean),
    );
    await removeFixedPathLeftovers((entry) => {
      const id = /-([0-9a-f]{64})-[^-]+$/.exec(entry)?.[1];
      return id !== undefined && sandboxes.has(id);
    });
    await rm(this.dir, { recursive: true, force: true });
    return stopped;
  }

  /** The kubelet links each container's log into /var/log/containers; drop the links into our folder. */
  async #removeContainerLogLinks(): Promise<void> {
    const folder = '/var/log/containers';
    for (const entry of await readdir(folder).catch(() => [] as string[])) {
      const target = await readlink(join(folder, entry)).catch(() => '');
      if (target.startsWith(`${this.dir}/`))
        await unlink(join(folder, entry)).catch(() => undefined);
    }
  }
}

/** cluster:down's hook: tears down the node of the plane in `planeDir`, if it has one. */
export async function stopNodeOf(planeDir: string, log: ProgressLog): Promise<number> {
  const node = new LocalNode(planeDir, log);
  if (!existsSync(node.dir)) return 0;
  log('tearing down the worker node');
  return node.down();
}
