// A test oracle, written apart from src/webhook: what Kubernetes requires of a pod where the injector writes, as a list of problems.

type Record_ = Readonly<Record<string, unknown>>;

function isRecord(value: unknown): value is Record_ {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Go reads null as absent for lists and maps, so the apiserver does too. */
function absent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isStringMap(value: unknown): boolean {
  return (
    absent(value) || (isRecord(value) && Object.values(value).every((v) => typeof v === 'string'))
  );
}

function isStringList(value: unknown): boolean {
  return absent(value) || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
}

function records(value: unknown): readonly unknown[] | 'invalid' {
  if (absent(value)) return [];
  return Array.isArray(value) ? value : 'invalid';
}

/**
 * Problems keyed by container and volume names, not indexes, so the problems of a pod before and
 * after a patch that inserts an init container can be compared as sets. Covers the metadata the
 * injector writes and the containers and volumes; not the whole Pod schema.
 */
export function podProblems(pod: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(pod)) return ['the pod is not an object'];
  const metadata = pod.metadata;
  if (!absent(metadata) && !isRecord(metadata)) problems.push('metadata is not an object');
  if (isRecord(metadata)) {
    if (!isStringMap(metadata.annotations)) problems.push('annotations are not strings');
    if (!isStringMap(metadata.labels)) problems.push('labels are not strings');
  }
  const spec = pod.spec;
  if (!isRecord(spec)) return [...problems, 'spec is not an object'];

  const volumes = records(spec.volumes);
  const volumeNames = new Set<string>();
  if (volumes === 'invalid') problems.push('volumes is not a list');
  else {
    volumes.forEach((volume, index) => {
      const key = isRecord(volume) && typeof volume.name === 'string' ? volume.name : `#${index}`;
      if (!isRecord(volume)) return problems.push(`volume ${key} is not an object`);
      if (typeof volume.name !== 'string' || !DNS_LABEL.test(volume.name)) {
        problems.push(`volume ${key} has no valid name`);
      } else if (volumeNames.has(volume.name)) problems.push(`volume ${key} is listed twice`);
      else volumeNames.add(volume.name);
      const sources = Object.keys(volume).filter((field) => field !== 'name');
      if (sources.length !== 1 || !isRecord(volume[sources[0] ?? ''])) {
        problems.push(`volume ${key} has not exactly one source`);
      }
      return undefined;
    });
  }

  const containerNames = new Set<string>();
  const lists: [string, unknown][] = [
    ['initContainers', spec.initContainers],
    ['containers', spec.containers],
  ];
  if (absent(spec.containers) || (Array.isArray(spec.containers) && spec.containers.length === 0)) {
    problems.push('containers is required');
  }
  for (const [list, value] of lists) {
    const containers = records(value);
    if (containers === 'invalid') {
      problems.push(`${list} is not a list`);
      continue;
    }
    containers.forEach((container, index) => {
      const key =
        isRecord(container) && typeof container.name === 'string'
          ? `container ${JSON.stringify(container.name)}`
          : `${list}[${index}]`;
      if (!isRecord(container)) return problems.push(`${key} is not an object`);
      if (typeof container.name !== 'string' || !DNS_LABEL.test(container.name)) {
        problems.push(`${key} has no valid name`);
      } else if (containerNames.has(container.name)) problems.push(`${key} is listed twice`);
      else containerNames.add(container.name);
      if (typeof container.image !== 'string' || container.image === '') {
        problems.push(`${key} has no image`);
      }
      if (!isStringList(container.command)) problems.push(`${key} command is not strings`);
      if (!isStringList(container.args)) problems.push(`${key} args are not strings`);
      const env = records(container.env);
      if (env === 'invalid') problems.push(`${key} env is not a list`);
      else {
        for (const variable of env) {
          if (!isRecord(variable) || typeof variable.name !== 'string' || variable.name === '') {
            problems.push(`${key} env has an entry without a name`);
          } else if (!absent(variable.value) && typeof variable.value !== 'string') {
            problems.push(`${key} env ${variable.name} value is not a string`);
          } else if (!absent(variable.value) && !absent(variable.valueFrom)) {
            problems.push(`${key} env ${variable.name} has both value and valueFrom`);
          }
        }
      }
      if (records(container.envFrom) === 'invalid') problems.push(`${key} envFrom is not a list`);
      const mounts = records(container.volumeMounts);
      if (mounts === 'invalid') problems.push(`${key} volumeMounts is not a list`);
      else {
        const paths = new Set<string>();
        for (const mount of mounts) {
          if (!isRecord(mount) || typeof mount.name !== 'string') {
            problems.push(`${key} has a mount without a name`);
            continue;
          }
          if (volumes !== 'invalid' && !volumeNames.has(mount.name)) {
            problems.push(`${key} mounts ${mount.name}, which is not a volume`);
          }
          if (typeof mount.mountPath !== 'string' || mount.mountPath === '') {
            problems.push(`${key} mounts ${mount.name} at no path`);
            continue;
          }
          const path = mount.mountPath.replace(/\/+$/, '');
          if (paths.has(path)) problems.push(`${key} mounts two volumes at ${path}`);
          paths.add(path);
        }
      }
      return undefined;
    });
  }
  return problems;
}
