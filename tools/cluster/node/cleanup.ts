// What a node leaves in the kernel after its processes stop: mounts under its folder, pod cgroups,
// container processes, iptables chains of kubelet/CNI. Each step finds only what is the node's.
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { attempt, run } from './run.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** The kubelet's cgroupfs parent for every pod (cgroupsPerQOS, cgroupRoot "/"). */
const POD_CGROUP = 'kubepods';

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo, octal escapes decoded). */
export function mountsUnder(dir: string, mountinfo: string): string[] {
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((field) =>
      field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
    )
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts (lazily, so a busy mount cannot block teardown) every mount under `dir`. */
export async function unmountUnder(dir: string): Promise<number> {
  let count = 0;
  for (let pass = 0; pass < 5; pass += 1) {
    const points = mountsUnder(dir, readFileSync('/proc/self/mountinfo', 'utf8'));
    if (!points.length) break;
    for (const point of points) if (await attempt('umount', ['--lazy', point])) count += 1;
  }
  return count;
}

/** Every cgroup folder of the pods' tree, in every v1 hierarchy, deepest first. */
function podCgroups(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }))
      if (entry.isDirectory()) walk(join(dir, entry.name));
    found.push(dir);
  };
  if (!existsSync(CGROUP_ROOT)) return found;
  for (const hierarchy of readdirSync(CGROUP_ROOT)) {
    const top = join(CGROUP_ROOT, hierarchy, POD_CGROUP);
    if (existsSync(top) && statSync(top).isDirectory()) walk(top);
  }
  return found;
}

function pidsIn(cgroups: readonly string[]): number[] {
  const pids = new Set<number>();
  for (const dir of cgroups) {
    try {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n'))
        if (line.trim()) pids.add(Number(line));
    } catch {
      // gone meanwhile
    }
  }
  return [...pids];
}

/** Kills every process left in the pods' cgroups (containers, pause), then removes the cgroups. */
export async function removePodCgroups(): Promise<number> {
  let killed = 0;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const pids = pidsIn(podCgroups());
    if (!pids.length || Date.now() > deadline) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed += 1;
      } catch {
        // already gone
      }
    }
    await sleep(200);
  }
  for (const dir of podCgroups()) {
    try {
      rmdirSync(dir);
    } catch {
      // a process still holds it; the next teardown tries again
    }
  }
  return killed;
}

/**
 * Chains the kubelet, kube-proxy (KUBE-FIREWALL survives its --cleanup) and the CNI portmap plugin
 * create on their own, beside those `kube-proxy --cleanup` removes.
 */
const STRAY_CHAIN = /^-N ((?:KUBE-KUBELET-CANARY|KUBE-IPTABLES-HINT|KUBE-FIREWALL|CNI-)\S*)$/gm;
export async function removeStrayChains(): Promise<void> {
  for (const tool of ['iptables', 'ip6tables']) {
    for (const table of ['nat', 'filter', 'mangle']) {
      let rules: string;
      try {
        rules = await run(tool, ['-w', '-t', table, '-S']);
      } catch {
        continue;
      }
      const chains = [...rules.matchAll(STRAY_CHAIN)]
        .map((match) => match[1] ?? '')
        .filter(Boolean);
      for (const line of rules.split('\n')) {
        const jump = chains.find((chain) => line.startsWith('-A ') && line.endsWith(`-j ${chain}`));
        if (jump)
          await attempt(tool, ['-w', '-t', table, ...line.replace(/^-A /, '-D ').split(' ')]);
      }
      for (const chain of chains) await attempt(tool, ['-w', '-t', table, '-F', chain]);
      for (const chain of chains) await attempt(tool, ['-w', '-t', table, '-X', chain]);
    }
  }
}

/**
 * Paths containerd, libcni and the kubelet use whatever they are configured with: the shims' socket
 * folder, libcni's result cache, the kubelet's device-plugin socket, the kubelet's log links
 * folder. Only the node's own entries go; a folder goes only if that leaves it empty.
 */
export async function removeFixedPathLeftovers(
  containerIds: (name: string) => boolean,
): Promise<void> {
  const cniResults = '/var/lib/cni/results';
  for (const entry of await readdir(cniResults).catch(() => [] as string[]))
    if (containerIds(entry)) await rm(join(cniResults, entry), { force: true });
  await rm('/var/lib/kubelet/device-plugins/kubelet.sock', { force: true });
  for (const folder of [
    cniResults,
    '/var/lib/cni',
    '/run/containerd/s',
    '/run/containerd',
    '/var/lib/kubelet/device-plugins',
    '/var/lib/kubelet',
    '/var/log/containers',
  ])
    await rmdir(folder).catch(() => undefined);
}
