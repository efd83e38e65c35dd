// What the worker node and the images need from the host, checked up front so a missing piece is one precise message.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian package → a command it provides that the node or the image builds run. */
export const NODE_PACKAGES: Readonly<Record<string, string>> = {
  buildah: 'buildah',
  mmdebstrap: 'mmdebstrap',
  umoci: 'umoci',
  iptables: 'iptables',
  conntrack: 'conntrack',
  iproute2: 'ip',
  'util-linux': 'nsenter',
  'dpkg-dev': 'dpkg-deb',
};

export interface HostFacts {
  readonly uid: number;
  readonly path: string;
  readonly hasCgroups: boolean;
  readonly hasSeccompHeaders: boolean;
}

export function hostFacts(): HostFacts {
  return {
    uid: process.getuid?.() ?? -1,
    path: process.env.PATH ?? '',
    hasCgroups: existsSync('/sys/fs/cgroup'),
    hasSeccompHeaders: existsSync('/usr/include/seccomp.h'),
  };
}

function onPath(command: string, path: string): boolean {
  return path.split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Every missing prerequisite, each with what to do; empty when the host can run a node. */
export function missingPrerequisites(facts: HostFacts = hostFacts()): string[] {
  const problems: string[] = [];
  if (facts.uid !== 0) {
    problems.push('the node runs containerd, the kubelet and iptables rules: run as root (uid 0)');
  }
  if (!facts.hasCgroups) problems.push('/sys/fs/cgroup is not mounted: the kubelet needs cgroups');
  const packages = Object.entries(NODE_PACKAGES)
    .filter(([, command]) => !onPath(command, facts.path))
    .map(([pkg, command]) => ({ pkg, command }));
  if (!facts.hasSeccompHeaders) packages.push({ pkg: 'libseccomp-dev', command: 'seccomp.h' });
  if (packages.length > 0) {
    problems.push(
      `missing ${packages.map((p) => p.command).join(', ')}: ` +
        `apt-get install -y ${packages.map((p) => p.pkg).join(' ')}`,
    );
  }
  return problems;
}

export class NodePrerequisiteError extends Error {
  override readonly name = 'NodePrerequisiteError';
}

export function assertNodePrerequisites(facts?: HostFacts): void {
  const problems = missingPrerequisites(facts);
  if (problems.length > 0) {
    throw new NodePrerequisiteError(
      `the worker node cannot start on this host:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}
