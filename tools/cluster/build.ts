// Builds the plane's binaries (and, on request, the node's) from Go modules, once per version.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { withDirectoryLock } from '../../src/util/directory-lock.ts';
import { binaryCacheRoot } from './paths.ts';
import {
  CNI_PLUGINS_VERSION,
  CONTAINERD_VERSION,
  COREDNS_VERSION,
  ETCD_VERSION,
  HELM_VERSION,
  KUBERNETES_VERSION,
  RUNC_VERSION,
} from './versions.ts';

export interface Binaries {
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubectl: string;
  readonly helm: string;
}

export type ProgressLog = (line: string) => void;

/** Go is missing or too old; the message says what to install. */
export class MissingGoError extends Error {
  override readonly name = 'MissingGoError';
}

const MINIMUM_GO = [1, 26] as const;

interface GoBuild {
  /** Cache folder name, which carries the version so a bump rebuilds. */
  readonly key: string;
  /** The module this build requires, and the `replace` lines its go.mod needs. */
  readonly require: string;
  replaces(moduleDir: string): Promise<string[]>;
  /** Output file name → Go package. */
  readonly packages: Readonly<Record<string, string>>;
  readonly ldflags: string;
  /** Needs cgo (runc does); every other build is static with no C toolchain. */
  readonly cgo?: boolean;
  /** Build tags, decided when the build starts (runc's seccomp needs libseccomp's headers). */
  tags?(): string[];
}

function goEnvironment(cgo = false): NodeJS.ProcessEnv {
  // Never switch toolchains behind the user's back.
  return {
    ...process.env,
    CGO_ENABLED: cgo ? '1' : '0',
    GOTOOLCHAIN: 'local',
    GOFLAGS: '-mod=mod',
  };
}

interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

function runGo(
  args: readonly string[],
  cwd: string,
  onStderrLine?: (line: string) => void,
  cgo = false,
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('go', args, {
      cwd,
      env: goEnvironment(cgo),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderr.push(line);
      onStderrLine?.(line);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new MissingGoError(
              'Go was not found on PATH. The local Kubernetes control plane is built from Go ' +
                `modules: install Go ${MINIMUM_GO.join('.')} or newer (https://go.dev/dl/) and retry.`,
            )
          : error,
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolvePromise({ stdout: stdout.join(''), stderr: stderr.join('\n') });
      else
        reject(
          new Error(`go ${args.join(' ')} failed (exit ${code}):\n${stderr.slice(-40).join('\n')}`),
        );
    });
  });
}

async function assertGoVersion(cwd: string): Promise<void> {
  const { stdout } = await runGo(['env', 'GOVERSION'], cwd);
  const match = /^go(\d+)\.(\d+)/.exec(stdout.trim());
  const [major, minor] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  if (major < MINIMUM_GO[0] || (major === MINIMUM_GO[0] && minor < MINIMUM_GO[1])) {
    throw new MissingGoError(
      `Go ${MINIMUM_GO.join('.')} or newer is needed to build Kubernetes ${KUBERNETES_VERSION}; ` +
        `found ${stdout.trim() || 'an unknown version'}. Install a newer Go (https://go.dev/dl/).`,
    );
  }
}

/** k8s.io/kubernetes points its staging modules at local paths; outside its repo they map to v0.Y.Z. */
async function kubernetesReplaces(cwd: string): Promise<string[]> {
  const { stdout } = await runGo(
    ['mod', 'download', '-json', `k8s.io/kubernetes@v${KUBERNETES_VERSION}`],
    cwd,
  );
  const { GoMod } = JSON.parse(stdout) as { GoMod?: string };
  if (!GoMod) throw new Error('go mod download did not report the k8s.io/kubernetes go.mod');
  const goMod = await readFile(GoMod, 'utf8');
  const stagingVersion = `v0.${KUBERNETES_VERSION.split('.').slice(1).join('.')}`;
  const staging = [...goMod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)];
  const required = new Set(
    [...goMod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+v0\.0\.0\b/gm)].map((m) => m[1]),
  );
  return staging
    .map((match) => match[1] ?? '')
    .filter((module) => required.has(module))
    .map((module) => `${module} => ${module} ${stagingVersion}`);
}

function kubernetesVersionFlags(): string {
  const [major, minor] = KUBERNETES_VERSION.split('.');
  const variables = {
    gitVersion: `v${KUBERNETES_VERSION}`,
    gitMajor: major,
    gitMinor: minor,
    gitTreeState: 'clean',
  };
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']
    .flatMap((pkg) =>
      Object.entries(variables).map(([name, value]) => `-X ${pkg}.${name}=${value}`),
    )
    .join(' ');
}

const noReplaces = (): Promise<string[]> => Promise.resolve([]);

/** runc filters syscalls only when built with libseccomp (Debian: libseccomp-dev). */
function seccompTags(): string[] {
  return existsSync('/usr/include/seccomp.h') ? ['seccomp'] : [];
}

const CNI = 'github.com/containernetworking/plugins/plugins';
const CONTAINERD = 'github.com/containerd/containerd/v2';

/** The worker node's builds, only made when a node is asked for. */
const nodeBuilds: readonly GoBuild[] = [
  {
    key: `kubernetes-node-v${KUBERNETES_VERSION}`,
    require: `k8s.io/kubernetes v${KUBERNETES_VERSION}`,
    replaces: kubernetesReplaces,
    packages: {
      kubelet: 'k8s.io/kubernetes/cmd/kubelet',
      'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
      'kube-proxy': 'k8s.io/kubernetes/cmd/kube-proxy',
    },
    ldflags: `-s -w ${kubernetesVersionFlags()}`,
  },
  {
    key: `containerd-v${CONTAINERD_VERSION}`,
    require: `${CONTAINERD} v${CONTAINERD_VERSION}`,
    replaces: noReplaces,
    packages: {
      containerd: `${CONTAINERD}/cmd/containerd`,
      'containerd-shim-runc-v2': `${CONTAINERD}/cmd/containerd-shim-runc-v2`,
      ctr: `${CONTAINERD}/cmd/ctr`,
    },
    ldflags: `-s -w -X ${CONTAINERD}/version.Version=v${CONTAINERD_VERSION}`,
  },
  {
    key: `runc-v${RUNC_VERSION}`,
    require: `github.com/opencontainers/runc v${RUNC_VERSION}`,
    replaces: noReplaces,
    packages: { runc: 'github.com/opencontainers/runc' },
    ldflags: `-s -w -X main.version=${RUNC_VERSION}`,
    cgo: true,
    tags: seccompTags,
  },
  {
    key: `cni-plugins-v${CNI_PLUGINS_VERSION}`,
    require: `github.com/containernetworking/plugins v${CNI_PLUGINS_VERSION}`,
    replaces: noReplaces,
    packages: {
      bridge: `${CNI}/main/bridge`,
      'host-local': `${CNI}/ipam/host-local`,
      loopback: `${CNI}/main/loopback`,
      portmap: `${CNI}/meta/portmap`,
    },
    ldflags: '-s -w',
  },
  {
    key: `coredns-v${COREDNS_VERSION}`,
    require: `github.com/coredns/coredns v${COREDNS_VERSION}`,
    replaces: noReplaces,
    packages: { coredns: 'github.com/coredns/coredns' },
    ldflags: '-s -w',
  },
];

const builds: Readonly<Record<'kubernetes' | 'etcd' | 'helm', GoBuild>> = {
  kubernetes: {
    key: `kubernetes-v${KUBERNETES_VERSION}`,
    require: `k8s.io/kubernetes v${KUBERNETES_VERSION}`,
    replaces: kubernetesReplaces,
    packages: {
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
      kubectl: 'k8s.io/kubernetes/cmd/kubectl',
    },
    ldflags: `-s -w ${kubernetesVersionFlags()}`,
  },
  etcd: {
    key: `etcd-v${ETCD_VERSION}`,
    // Built in its own module: Kubernetes' requirements would otherwise pull another etcd server.
    require: `go.etcd.io/etcd/server/v3 v${ETCD_VERSION}`,
    replaces: noReplaces,
    packages: { etcd: 'go.etcd.io/etcd/server/v3' },
    ldflags: '-s -w',
  },
  helm: {
    key: `helm-v${HELM_VERSION}`,
    require: `helm.sh/helm/v3 v${HELM_VERSION}`,
    replaces: noReplaces,
    packages: { helm: 'helm.sh/helm/v3/cmd/helm' },
    ldflags: `-s -w -X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION}`,
  },
};

function formatElapsed(milliseconds: number): string {
  const seconds = Math.round(milliseconds / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

async function buildOnce(build: GoBuild, cacheRoot: string, log: ProgressLog): Promise<string> {
  const home = join(cacheRoot, build.key);
  const binDir = join(home, 'bin');
  const complete = (): boolean =>
    Object.keys(build.packages).every((name) => existsSync(join(binDir, name)));
  if (complete()) return binDir;

  const onWait = (owner: number | undefined): void =>
    log(`waiting for another build (pid ${owner ?? '?'}) of ${build.key}`);
  return withDirectoryLock(
    `${home}.lock`,
    async () => {
      if (complete()) return binDir; // built by whoever held the lock before us
      const moduleDir = join(home, 'module');
      await mkdir(moduleDir, { recursive: true });
      await assertGoVersion(moduleDir);
      const started = Date.now();
      log(`building ${build.key} (first time only; this takes minutes) in ${home}`);

      await writeFile(
        join(moduleDir, 'go.mod'),
        `module op-kube.local/${build.key}\n\ngo 1.26.0\n`,
      );
      const replaces = await build.replaces(moduleDir);
      const replaceBlock = replaces.length ? `\nreplace (\n\t${replaces.join('\n\t')}\n)\n` : '';
      await writeFile(
        join(moduleDir, 'go.mod'),
        `module op-kube.local/${build.key}\n\ngo 1.26.0\n\nrequire ${build.require}\n${replaceBlock}`,
      );

      const packages = Object.values(build.packages);
      log(`${build.key}: resolving modules and packages`);
      const tags = build.tags?.() ?? [];
      const tagArgs = tags.length ? ['-tags', tags.join(',')] : [];
      const listed = await runGo(
        ['list', '-deps', ...tagArgs, ...packages],
        moduleDir,
        undefined,
        build.cgo,
      );
      const total = listed.stdout.split('\n').filter((line) => line.trim()).length;

      const partial = join(home, `bin.partial-${process.pid}`);
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial, { recursive: true });
      let compiled = 0;
      const ticker = setInterval(() => {
        log(
          `${build.key}: compiled ${compiled}/${total} packages (${formatElapsed(Date.now() - started)})`,
        );
      }, 20_000);
      try {
        for (const [output, pkg] of Object.entries(build.packages)) {
          await runGo(
            [
              'build',
              '-v',
              ...tagArgs,
              '-ldflags',
              build.ldflags,
              '-o',
              join(partial, output),
              pkg,
            ],
            moduleDir,
            (line) => {
              if (!line.startsWith('go: ')) compiled += 1;
            },
            build.cgo,
          );
        }
      } finally {
        clearInterval(ticker);
      }
      // Rename last, so an interrupted build never leaves a half-filled bin/ that looks complete.
      await rm(binDir, { recursive: true, force: true });
      await rename(partial, binDir);
      log(`${build.key}: built in ${formatElapsed(Date.now() - started)}`);
      return binDir;
    },
    { onWait, pollMs: 2000 },
  );
}

/** Returns the cached binaries, building whatever is missing first. */
export async function ensureBinaries(
  log: ProgressLog,
  cacheRoot: string = binaryCacheRoot(),
): Promise<Binaries> {
  const kubernetes = await buildOnce(builds.kubernetes, cacheRoot, log);
  const etcd = await buildOnce(builds.etcd, cacheRoot, log);
  const helm = await buildOnce(builds.helm, cacheRoot, log);
  return {
    etcd: join(etcd, 'etcd'),
    kubeApiserver: join(kubernetes, 'kube-apiserver'),
    kubeControllerManager: join(kubernetes, 'kube-controller-manager'),
    kubectl: join(kubernetes, 'kubectl'),
    helm: join(helm, 'helm'),
  };
}

export interface NodeBinaries {
  readonly kubelet: string;
  readonly kubeScheduler: string;
  readonly kubeProxy: string;
  readonly containerd: string;
  readonly ctr: string;
  readonly runc: string;
  readonly coredns: string;
  /** Holds containerd, containerd-shim-runc-v2, ctr and runc: containerd finds its shim on PATH. */
  readonly runtimeBinDirs: readonly string[];
  /** The CNI plugins' folder (bridge, host-local, loopback, portmap). */
  readonly cniBinDir: string;
}

/** The worker node's binaries, building whatever is missing first (one build at a time: 2 cores). */
export async function ensureNodeBinaries(
  log: ProgressLog,
  cacheRoot: string = binaryCacheRoot(),
): Promise<NodeBinaries> {
  const started = Date.now();
  const dirs: string[] = [];
  for (const build of nodeBuilds) dirs.push(await buildOnce(build, cacheRoot, log));
  const [kubernetes = '', containerd = '', runc = '', cni = '', coredns = ''] = dirs;
  if (Date.now() - started > 5000)
    log(`node binaries ready in ${formatElapsed(Date.now() - started)}`);
  return {
    kubelet: join(kubernetes, 'kubelet'),
    kubeScheduler: join(kubernetes, 'kube-scheduler'),
    kubeProxy: join(kubernetes, 'kube-proxy'),
    containerd: join(containerd, 'containerd'),
    ctr: join(containerd, 'ctr'),
    runc: join(runc, 'runc'),
    coredns: join(coredns, 'coredns'),
    runtimeBinDirs: [containerd, runc],
    cniBinDir: cni,
  };
}
