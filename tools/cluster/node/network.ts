// The node's sealed network on the host: the pods' bridge, the Service route, and guard rules so
// that nothing reaches the pods from outside and nothing of theirs is routed out (decision 017).
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { attempt, run } from './run.ts';
import { BRIDGE, GUARD_CHAINS, NODE_IP, POD_CIDR, SERVICE_CIDR } from './layout.ts';

const PREFIX_LENGTH = POD_CIDR.split('/')[1] ?? '24';
const BRIDGE_NF = '/proc/sys/net/bridge/bridge-nf-call-iptables';

/** Which node folder owns the bridge and rules: one node per machine (fixed names and ranges). */
const OWNER_FILE = '/run/op-kube/node-owner';

async function ownerOfNetwork(): Promise<string | undefined> {
  return (await readFile(OWNER_FILE, 'utf8').catch(() => '')).trim() || undefined;
}

/**
 * Claims the machine's node network for `nodeDir`. Another node folder that still exists keeps it:
 * the error names it, so its owner can `cluster:down` it first.
 */
export async function claimNetwork(nodeDir: string): Promise<void> {
  const owner = await ownerOfNetwork();
  if (owner && owner !== nodeDir && existsSync(owner))
    throw new Error(
      `another worker node (${owner}) owns this machine's node network (bridge ${BRIDGE}); ` +
        `stop it first: OP_KUBE_CLUSTER_DIR=${owner.replace(/\/node$/, '')} npm run cluster:down`,
    );
  await mkdir('/run/op-kube', { recursive: true });
  await writeFile(OWNER_FILE, nodeDir);
}

/** Whether `nodeDir` may tear the network down: it owns it, or nobody does. */
export async function ownsNetwork(nodeDir: string): Promise<boolean> {
  const owner = await ownerOfNetwork();
  return owner === undefined || owner === nodeDir;
}

export async function releaseNetwork(nodeDir: string): Promise<void> {
  if ((await ownerOfNetwork()) === nodeDir) await rm(OWNER_FILE, { force: true });
  await rmdir('/run/op-kube').catch(() => undefined);
}

/** Whether Linux hands bridged pod-to-pod frames to iptables (kube-proxy needs it for hairpin). */
export function bridgeNetfilterAvailable(): boolean {
  return existsSync(BRIDGE_NF);
}

/** One guard rule: [table chain] arguments, applied to iptables (and, for INPUT, ip6tables). */
function guardRules(apiserverPort: number): Record<keyof typeof GUARD_CHAINS, string[][]> {
  return {
    INPUT: [
      ['-i', 'lo', '-j', 'RETURN'],
      ['-i', BRIDGE, '-j', 'RETURN'],
      // In node mode the apiserver listens on every address: only loopback and pods may reach it.
      ['-p', 'tcp', '--dport', String(apiserverPort), '-j', 'REJECT'],
      // The node's addresses (kubelet, NodePorts) are not for anything outside either.
      ['-d', POD_CIDR, '-j', 'REJECT'],
    ],
    FORWARD: [
      ['-i', BRIDGE, '-o', BRIDGE, '-j', 'RETURN'],
      ['-i', BRIDGE, '-j', 'REJECT'],
      ['-o', BRIDGE, '-j', 'REJECT'],
    ],
    // Runs after kube-proxy's DNAT: a Service IP still here has no Service, so fail at once.
    OUTPUT: [['-d', SERVICE_CIDR, '-j', 'REJECT']],
  };
}

async function addGuards(apiserverPort: number): Promise<void> {
  const rules = guardRules(apiserverPort);
  for (const builtin of Object.keys(GUARD_CHAINS) as (keyof typeof GUARD_CHAINS)[]) {
    const chain = GUARD_CHAINS[builtin];
    const tools = builtin === 'INPUT' ? ['iptables', 'ip6tables'] : ['iptables'];
    for (const tool of tools) {
      await attempt(tool, ['-w', '-N', chain]);
      await run(tool, ['-w', '-F', chain]);
      for (const rule of rules[builtin]) {
        if (tool === 'ip6tables' && rule.includes(POD_CIDR)) continue;
        await run(tool, ['-w', '-A', chain, ...rule]);
      }
      if (!(await attempt(tool, ['-w', '-C', builtin, '-j', chain])))
        await run(tool, ['-w', '-I', builtin, '1', '-j', chain]);
    }
  }
}

async function removeGuards(): Promise<void> {
  for (const builtin of Object.keys(GUARD_CHAINS) as (keyof typeof GUARD_CHAINS)[]) {
    const chain = GUARD_CHAINS[builtin];
    for (const tool of ['iptables', 'ip6tables']) {
      while (await attempt(tool, ['-w', '-D', builtin, '-j', chain]));
      await attempt(tool, ['-w', '-F', chain]);
      await attempt(tool, ['-w', '-X', chain]);
    }
  }
}

export interface NetworkRecord {
  /** bridge-nf-call-iptables before the node set it, restored by teardown. */
  readonly bridgeNetfilterBefore?: string;
}

/** Creates the bridge with NODE_IP, routes the Service range onto it, installs the guard rules. */
export async function setUpNetwork(apiserverPort: number, recordFile: string): Promise<void> {
  // A kernel that has the module but has not loaded it yet (kmod's modprobe, where installed).
  if (!bridgeNetfilterAvailable()) await attempt('modprobe', ['br_netfilter']);
  if (!bridgeNetfilterAvailable())
    throw new Error(
      `${BRIDGE_NF} is missing: the br_netfilter kernel module is not loaded. Load it ` +
        '(`modprobe br_netfilter` as root) so kube-proxy sees traffic between pods on the bridge.',
    );
  const before = (await readFile(BRIDGE_NF, 'utf8')).trim();
  if (!existsSync(recordFile))
    await writeFile(
      recordFile,
      JSON.stringify({ bridgeNetfilterBefore: before } satisfies NetworkRecord),
    );
  if (before !== '1') await writeFile(BRIDGE_NF, '1');

  if (!existsSync(`/sys/class/net/${BRIDGE}`))
    await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  const addresses = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', BRIDGE]);
  if (!addresses.includes(`${NODE_IP}/`))
    await run('ip', ['addr', 'add', `${NODE_IP}/${PREFIX_LENGTH}`, 'dev', BRIDGE]);
  await run('ip', ['link', 'set', BRIDGE, 'up']);
  // Host-originated Service traffic (the apiserver calling a webhook) leaves from NODE_IP.
  await run('ip', ['route', 'replace', SERVICE_CIDR, 'dev', BRIDGE, 'src', NODE_IP]);
  await addGuards(apiserverPort);
}

/** Undoes setUpNetwork and whatever the CNI plugins left on the host. Safe to call twice. */
export async function tearDownNetwork(recordFile: string): Promise<void> {
  await removeGuards();
  await attempt('ip', ['route', 'del', SERVICE_CIDR, 'dev', BRIDGE]);
  if (existsSync(`/sys/class/net/${BRIDGE}`)) await attempt('ip', ['link', 'del', BRIDGE]);
  // Pods' veths go with their network namespaces (unmounted by the caller); conntrack entries stay
  // unless flushed, and could otherwise steer a later node's first packets.
  await attempt('conntrack', ['-D', '-s', POD_CIDR]);
  await attempt('conntrack', ['-D', '-d', POD_CIDR]);
  await attempt('conntrack', ['-D', '-d', SERVICE_CIDR]);
  try {
    const record = JSON.parse(await readFile(recordFile, 'utf8')) as NetworkRecord;
    if (
      record.bridgeNetfilterBefore &&
      record.bridgeNetfilterBefore !== '1' &&
      bridgeNetfilterAvailable()
    )
      await writeFile(BRIDGE_NF, record.bridgeNetfilterBefore);
  } catch {
    // no record: the node never changed the setting
  }
}
