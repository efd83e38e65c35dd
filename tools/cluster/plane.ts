// A real etcd + kube-apiserver + kube-controller-manager on loopback, started detached and reused.
import { existsSync } from 'node:fs';
import {
  mkdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import yaml from 'js-yaml';
import { ensureBinaries, type Binaries, type ProgressLog } from './build.ts';
import { CertificateAuthority, daysUntilExpiry, signingKeyPair } from './pki.ts';
import { defaultClusterDir } from './paths.ts';
import { freePorts } from './ports.ts';
import { httpsGet, waitUntil, type TlsIdentity } from './probe.ts';
import {
  belongsTo,
  commandLineOf,
  componentStatus,
  processesMentioning,
  spawnDetached,
  stopProcess,
} from './processes.ts';
import { readStateFile, writeStateFile } from './state-file.ts';
import { KUBERNETES_VERSION } from './versions.ts';
import { ensureNodeCertificates } from './node/certificates.ts';
import { NODE_IP, SERVICE_CIDR } from './node/layout.ts';
import { stopNodeOf } from './node/node.ts';
import { withDirectoryLock } from '../../src/util/directory-lock.ts';

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager'] as const;
export type Component = (typeof COMPONENTS)[number];

interface Ports {
  readonly etcdClient: number;
  readonly etcdPeer: number;
  readonly apiserver: number;
  readonly controllerManager: number;
}

interface PlaneState {
  readonly kubernetesVersion: string;
  readonly ports: Ports;
  readonly pids: Partial<Record<Component, number>>;
  /** The apiserver runs with the worker node's flags (see #nodeArguments). */
  readonly node?: boolean;
}

export interface UpOptions {
  /**
   * Start the apiserver so a worker node can join: reachable from pods, advertised on the node's
   * bridge address, Node authorizer, kubelet client certificate. A running plane without these is
   * restarted (the apiserver only); loopback clients see no difference.
   */
  readonly node?: boolean;
}

export type ComponentStatus = Readonly<Record<Component, { running: boolean; pid?: number }>>;

const CERT_VALIDITY_DAYS = 365;
const RENEW_BEFORE_DAYS = 30;
const START_TIMEOUT_MS = 120_000;

/** How long a start waits for a port the component's previous process still held. */
const PORT_RELEASE_WAIT_MS = 15_000;
const ADDRESS_IN_USE = /bind: address already in use/;

class PortInUseError extends Error {}

async function tailOf(file: string, lines = 25): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * One local control plane rooted at `dir`. Every process it starts carries `dir` in its argv, which
 * is how `down()` finds them even after the state file is lost, and how a recycled pid is told apart.
 */
export class ControlPlane {
  readonly dir: string;
  readonly #log: ProgressLog;
  #binaries: Binaries | undefined;

  constructor(dir: string = defaultClusterDir, log: ProgressLog = () => {}) {
    this.dir = resolve(dir);
    this.#log = log;
  }

  get kubeconfigPath(): string {
    return join(this.dir, 'kubeconfig');
  }

  get binDir(): string {
    return join(this.dir, 'bin');
  }

  #path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  #pki(name: string): string {
    return this.#path('pki', name);
  }

  #readState(): Promise<PlaneState | undefined> {
    return readStateFile<PlaneState>(this.#path('state.json'));
  }

  #writeState(state: PlaneState): Promise<void> {
    return writeStateFile(this.#path('state.json'), state);
  }

  #belongs(component: Component): (argv: readonly string[]) => boolean {
    return belongsTo(component, this.dir);
  }

  /** Which components run now: a recorded pid that is alive and still one of ours (not recycled). */
  async status(): Promise<ComponentStatus> {
    const state = await this.#readState();
    const entry = (component: Component): { running: boolean; pid?: number } => {
      const pid = state?.pids[component];
      return componentStatus(pid, component, this.dir);
    };
    return {
      etcd: entry('etcd'),
      'kube-apiserver': entry('kube-apiserver'),
      'kube-controller-manager': entry('kube-controller-manager'),
    };
  }

  /** The admin identity, for probes and for clients that want raw TLS material. */
  async adminIdentity(): Promise<TlsIdentity & { cert: string; key: string }> {
    const [ca, cert, key] = await Promise.all(
      ['ca.crt', 'admin.crt', 'admin.key'].map((name) => readFile(this.#pki(name), 'utf8')),
    );
    return { ca: ca ?? '', cert: cert ?? '', key: key ?? '' };
  }

  async apiserverUrl(): Promise<string> {
    const state = await this.#requireState();
    return `https://127.0.0.1:${state.ports.apiserver}`;
  }

  async #requireState(): Promise<PlaneState> {
    const state = await this.#readState();
    if (!state)
      throw new Error(`no control plane state in ${this.dir}; run \`npm run cluster:up\``);
    return state;
  }

  /** Runs `work` under this plane's lock (the worker node starts under it, see node/index.ts). */
  withLock<T>(work: () => Promise<T>): Promise<T> {
    return this.#locked(work);
  }

  /** Serialises operations on this plane across processes (two `cluster:up`s, a test and a shell). */
  #locked<T>(work: () => Promise<T>): Promise<T> {
    return withDirectoryLock(this.#path('.lock'), work, {
      onWait: (owner) =>
        this.#log(`waiting for another operation (pid ${owner ?? '?'}) on ${this.dir}`),
    });
  }

  /**
   * Builds what is missing, then starts whatever is not running. Resolves to whether anything had to
   * start; a plane already fully up is only checked. If a component fails to start, every process
   * this call started is stopped again before the error is thrown.
   */
  async up(options: UpOptions = {}): Promise<'started' | 'already-running'> {
    this.#binaries = await ensureBinaries(this.#log);
    await mkdir(this.dir, { recursive: true });
    return this.#locked(async () => {
      await this.#linkTools(this.#binaries as Binaries);
      let state = await this.#readState();
      let current = await this.status();
      if (options.node && state) {
        const reissued = await ensureNodeCertificates(this.#path('pki'));
        if ((reissued || !state.node) && current['kube-apiserver'].running) {
          this.#log('restarting kube-apiserver with the worker node flags');
          await this.#stopComponent('kube-apiserver');
          current = await this.status();
        }
        state = { ...((await this.#readState()) ?? state), node: true };
        await this.#writeState(state);
      }
      if (state && COMPONENTS.every((component) => current[component].running)) {
        await this.#waitReady('kube-apiserver', state);
        return 'already-running';
      }
      if (!state || COMPONENTS.every((component) => !current[component].running)) {
        await this.#sweepStrays();
        state = await this.#prepareFresh(options.node === true);
      }
      const started: Component[] = [];
      try {
        for (const component of COMPONENTS) {
          if (current[component].running) continue;
          state = await this.#start(component, state);
          started.push(component);
        }
        await this.#waitForControllers();
      } catch (error) {
        for (const component of started.reverse()) await this.#stopComponent(component);
        throw error;
      }
      return 'started';
    });
  }

  /** Stops every process of this plane and forgets its data (certificates and logs stay). */
  async down(): Promise<number> {
    if (!existsSync(this.dir)) return 0;
    return this.#locked(async () => {
      const state = await this.#readState();
      // The node first: its kubelet and proxies would otherwise retry a dead apiserver.
      let stopped = await stopNodeOf(this.dir, this.#log);
      for (const component of [...COMPONENTS].reverse()) {
        const pid = state?.pids[component];
        if (pid !== undefined && (await stopProcess(pid, this.#belongs(component)))) stopped += 1;
      }
      stopped += await this.#sweepStrays();
      await rm(this.#path('etcd'), { recursive: true, force: true });
      await rm(this.#path('state.json'), { force: true });
      return stopped;
    });
  }

  /** Stops one component, leaving the others (and etcd's data) as they are. */
  stop(component: Component): Promise<void> {
    return this.#locked(() => this.#stopComponent(component));
  }

  async #stopComponent(component: Component): Promise<void> {
    const state = await this.#requireState();
    const pid = state.pids[component];
    if (pid !== undefined) await stopProcess(pid, this.#belongs(component));
    const pids = { ...state.pids };
    delete pids[component];
    await this.#writeState({ ...state, pids });
  }

  /** Starts one stopped component on its previous port and waits until it is ready. */
  async start(component: Component): Promise<void> {
    this.#binaries ??= await ensureBinaries(this.#log);
    await this.#locked(async () => {
      const state = await this.#requireState();
      if ((await this.status())[component].running) return;
      await this.#start(component, state);
    });
  }

  async restart(component: Component): Promise<void> {
    await this.stop(component);
    await this.start(component);
  }

  /** Stops processes of this plane that no state file knows about (e.g. after a lost state file). */
  async #sweepStrays(): Promise<number> {
    let stopped = 0;
    for (const pid of processesMentioning(`${this.dir}/`)) {
      const argv = commandLineOf(pid) ?? [];
      const component = COMPONENTS.find((candidate) => this.#belongs(candidate)(argv));
      if (component && (await stopProcess(pid, this.#belongs(component)))) stopped += 1;
    }
    return stopped;
  }

  async #linkTools(binaries: Binaries): Promise<void> {
    await mkdir(this.binDir, { recursive: true });
    for (const [name, target] of [
      ['kubectl', binaries.kubectl],
      ['helm', binaries.helm],
    ] as const) {
      const link = join(this.binDir, name);
      if ((await readlink(link).catch(() => undefined)) === target) continue;
      // Replace by rename so a kubectl started meanwhile never finds the link missing.
      await unlink(`${link}.tmp`).catch(() => undefined);
      await symlink(target, `${link}.tmp`);
      await rename(`${link}.tmp`, link);
    }
  }

  async #prepareFresh(node: boolean): Promise<PlaneState> {
    await rm(this.#path('etcd'), { recursive: true, force: true });
    await mkdir(this.#path('logs'), { recursive: true });
    await this.#ensurePki();
    if (node) await ensureNodeCertificates(this.#path('pki'));
    const [etcdClient = 0, etcdPeer = 0, apiserver = 0, controllerManager = 0] = await freePorts(4);
    const ports: Ports = { etcdClient, etcdPeer, apiserver, controllerManager };
    await this.#writeKubeconfigs(ports.apiserver);
    const state: PlaneState = {
      kubernetesVersion: KUBERNETES_VERSION,
      ports,
      pids: {},
      ...(node ? { node } : {}),
    };
    await this.#writeState(state);
    return state;
  }

  async #ensurePki(): Promise<void> {
    const caPath = this.#pki('ca.crt');
    if (existsSync(caPath) && existsSync(this.#pki('sa.pub'))) {
      const remaining = daysUntilExpiry(await readFile(caPath, 'utf8'));
      if (remaining > RENEW_BEFORE_DAYS) return;
    }
    this.#log('generating certificates');
    await rm(this.#path('pki'), { recursive: true, force: true });
    await mkdir(this.#path('pki'), { recursive: true, mode: 0o700 });
    const ca = await CertificateAuthority.create('op-kube local cluster CA', CERT_VALIDITY_DAYS);
    const loopback = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };
    const issued = {
      ca: await ca.pem(),
      apiserver: await ca.issue({
        subject: 'CN=kube-apiserver',
        server: true,
        dnsNames: [
          'localhost',
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          'kubernetes.default.svc.cluster.local',
        ],
        ipAddresses: ['127.0.0.1', '::1', '10.96.0.1'],
      }),
      'etcd-server': await ca.issue({
        subject: 'CN=etcd',
        server: true,
        client: true,
        ...loopback,
      }),
      'etcd-client': await ca.issue({ subject: 'CN=kube-apiserver-etcd-client', client: true }),
      admin: await ca.issue({ subject: 'CN=op-kube-admin, O=system:masters', client: true }),
      'controller-manager': await ca.issue({
        subject: 'CN=system:kube-controller-manager',
        client: true,
      }),
      'controller-manager-serving': await ca.issue({
        subject: 'CN=kube-controller-manager',
        server: true,
        ...loopback,
      }),
    };
    for (const [name, pair] of Object.entries(issued)) {
      await writeFile(this.#pki(`${name}.crt`), pair.cert);
      await writeFile(this.#pki(`${name}.key`), pair.key, { mode: 0o600 });
    }
    const serviceAccount = await signingKeyPair();
    await writeFile(this.#pki('sa.key'), serviceAccount.privateKey, { mode: 0o600 });
    await writeFile(this.#pki('sa.pub'), serviceAccount.publicKey);
  }

  async #writeKubeconfigs(apiserverPort: number): Promise<void> {
    const ca = await readFile(this.#pki('ca.crt'));
    const server = `https://127.0.0.1:${apiserverPort}`;
    const kubeconfig = async (user: string, identity: string): Promise<string> =>
      yaml.dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'op-kube-local',
            cluster: { server, 'certificate-authority-data': ca.toString('base64') },
          },
        ],
        users: [
          {
            name: user,
            user: {
              'client-certificate-data': (await readFile(this.#pki(`${identity}.crt`))).toString(
                'base64',
              ),
              'client-key-data': (await readFile(this.#pki(`${identity}.key`))).toString('base64'),
            },
          },
        ],
        contexts: [{ name: 'op-kube-local', context: { cluster: 'op-kube-local', user } }],
        'current-context': 'op-kube-local',
      });
    await writeFile(this.kubeconfigPath, await kubeconfig('op-kube-admin', 'admin'), {
      mode: 0o600,
    });
    await writeFile(
      this.#pki('controller-manager.kubeconfig'),
      await kubeconfig('kube-controller-manager', 'controller-manager'),
      { mode: 0o600 },
    );
  }

  /** kube-apiserver's flags in node mode, replacing the loopback-only ones of the same names. */
  #nodeArguments(): string[] {
    const pki = (name: string): string => this.#pki(name);
    return [
      // Every address, so pods reach it on NODE_IP; node/network.ts rejects it on other interfaces.
      '--bind-address=0.0.0.0',
      `--advertise-address=${NODE_IP}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
      `--kubelet-certificate-authority=${pki('ca.crt')}`,
      '--kubelet-preferred-address-types=InternalIP',
    ];
  }

  #arguments(component: Component, state: PlaneState): string[] {
    const args = this.#baseArguments(component, state.ports);
    if (component !== 'kube-apiserver' || !state.node) return args;
    const extra = this.#nodeArguments();
    const names = new Set(extra.map((flag) => flag.split('=')[0]));
    return [...args.filter((flag) => !names.has(flag.split('=')[0])), ...extra];
  }

  #baseArguments(component: Component, ports: Ports): string[] {
    const pki = (name: string): string => this.#pki(name);
    switch (component) {
      case 'etcd':
        return [
          '--name=default',
          `--data-dir=${this.#path('etcd')}`,
          `--listen-client-urls=https://127.0.0.1:${ports.etcdClient}`,
          `--advertise-client-urls=https://127.0.0.1:${ports.etcdClient}`,
          `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
          `--initial-cluster=default=http://127.0.0.1:${ports.etcdPeer}`,
          `--cert-file=${pki('etcd-server.crt')}`,
          `--key-file=${pki('etcd-server.key')}`,
          `--trusted-ca-file=${pki('ca.crt')}`,
          '--client-cert-auth=true',
          // Test data is disposable: skipping fsync makes every write an order of magnitude faster.
          '--unsafe-no-fsync=true',
          '--log-level=warn',
        ];
      case 'kube-apiserver':
        return [
          `--etcd-servers=https://127.0.0.1:${ports.etcdClient}`,
          `--etcd-cafile=${pki('ca.crt')}`,
          `--etcd-certfile=${pki('etcd-client.crt')}`,
          `--etcd-keyfile=${pki('etcd-client.key')}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${ports.apiserver}`,
          `--cert-dir=${this.#path('pki', 'apiserver-generated')}`,
          `--tls-cert-file=${pki('apiserver.crt')}`,
          `--tls-private-key-file=${pki('apiserver.key')}`,
          `--client-ca-file=${pki('ca.crt')}`,
          '--authorization-mode=RBAC',
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${pki('sa.pub')}`,
          `--service-account-signing-key-file=${pki('sa.key')}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          '--allow-privileged=true',
          '--profiling=false',
          '--v=1',
        ];
      case 'kube-controller-manager':
        return [
          `--kubeconfig=${pki('controller-manager.kubeconfig')}`,
          `--authentication-kubeconfig=${pki('controller-manager.kubeconfig')}`,
          `--authorization-kubeconfig=${pki('controller-manager.kubeconfig')}`,
          `--service-account-private-key-file=${pki('sa.key')}`,
          `--root-ca-file=${pki('ca.crt')}`,
          '--use-service-account-credentials=true',
          `--cluster-signing-cert-file=${pki('ca.crt')}`,
          `--cluster-signing-key-file=${pki('ca.key')}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.controllerManager}`,
          `--cert-dir=${this.#path('pki', 'controller-manager-generated')}`,
          `--tls-cert-file=${pki('controller-manager-serving.crt')}`,
          `--tls-private-key-file=${pki('controller-manager-serving.key')}`,
          // A restarted controller-manager would otherwise wait out its predecessor's Lease.
          '--leader-elect=false',
          '--profiling=false',
          '--v=1',
        ];
    }
  }

  #binaryOf(component: Component): string {
    const binaries = this.#binaries;
    if (!binaries) throw new Error('binaries not resolved');
    return {
      etcd: binaries.etcd,
      'kube-apiserver': binaries.kubeApiserver,
      'kube-controller-manager': binaries.kubeControllerManager,
    }[component];
  }

  /**
   * Starts `component` and waits until it is ready. A port still held for a moment after the
   * previous process of the component exited (a Go process's threads finish exiting after its
   * leader is a zombie; CI saw a restarted controller-manager refused its port twice) is waited
   * for: the start is tried again while the process fails on "address already in use".
   */
  async #start(component: Component, state: PlaneState): Promise<PlaneState> {
    const deadline = Date.now() + PORT_RELEASE_WAIT_MS;
    for (;;) {
      try {
        return await this.#startOnce(component, state);
      } catch (error) {
        if (!(error instanceof PortInUseError) || Date.now() > deadline) throw error;
        this.#log(`${component}: its port is still in use; trying again`);
        await sleep(500);
      }
    }
  }

  async #startOnce(component: Component, state: PlaneState): Promise<PlaneState> {
    const logFile = this.#path('logs', `${component}.log`);
    await mkdir(this.#path('logs'), { recursive: true });
    this.#log(`starting ${component}`);
    const logStart = (await stat(logFile).catch(() => undefined))?.size ?? 0;
    const child = await spawnDetached(
      this.#binaryOf(component),
      this.#arguments(component, state),
      logFile,
      this.dir,
    );
    const next: PlaneState = { ...state, pids: { ...state.pids, [component]: child.pid } };
    await this.#writeState(next);
    try {
      await this.#waitReady(component, next, child.exited);
    } catch (error) {
      await stopProcess(child.pid, this.#belongs(component));
      const reason = error instanceof Error ? error.message : String(error);
      const message = `${reason}\nlast lines of ${logFile}:\n${await tailOf(logFile)}`;
      const written = await readFile(logFile, 'utf8').catch(() => '');
      throw ADDRESS_IN_USE.test(written.slice(logStart))
        ? new PortInUseError(message)
        : new Error(message);
    }
    child.release();
    return next;
  }

  async #waitReady(component: Component, state: PlaneState, died?: Promise<string>): Promise<void> {
    const identity = await this.adminIdentity();
    const etcdClient = {
      ca: identity.ca,
      cert: await readFile(this.#pki('etcd-client.crt'), 'utf8'),
      key: await readFile(this.#pki('etcd-client.key'), 'utf8'),
    };
    const checks: Record<Component, () => Promise<boolean>> = {
      etcd: async () => {
        const res = await httpsGet(
          `https://127.0.0.1:${state.ports.etcdClient}/health`,
          etcdClient,
        );
        return (
          res.status === 200 && (JSON.parse(res.body) as { health?: string }).health === 'true'
        );
      },
      'kube-apiserver': async () =>
        (await httpsGet(`https://127.0.0.1:${state.ports.apiserver}/readyz`, identity)).body ===
        'ok',
      'kube-controller-manager': async () =>
        (
          await httpsGet(`https://127.0.0.1:${state.ports.controllerManager}/healthz`, {
            ca: identity.ca,
          })
        ).body === 'ok',
    };
    await waitUntil(`${component} readiness`, checks[component], {
      timeoutMs: START_TIMEOUT_MS,
      ...(died ? { abort: died } : {}),
    });
  }

  /** The controllers really run once the ServiceAccount controller has made `default/default`. */
  async #waitForControllers(): Promise<void> {
    const identity = await this.adminIdentity();
    const url = `${await this.apiserverUrl()}/api/v1/namespaces/default/serviceaccounts/default`;
    await waitUntil(
      'default ServiceAccount from kube-controller-manager',
      async () => (await httpsGet(url, identity)).status === 200,
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 250 },
    );
  }
}
