// Pod → pod whose listed containers start through `op run`: 1Password's injector contract, its flaws fixed.
import type {
  V1Container,
  V1EnvVar,
  V1Pod,
  V1ResourceRequirements,
  V1Volume,
} from '@kubernetes/client-node';
import {
  DEFAULT_OP_VERSION,
  INIT_FIRST_ANNOTATION,
  INJECT_ANNOTATION,
  STATUS_ANNOTATION,
  STATUS_INJECTED,
  VERSION_ANNOTATION,
} from './annotations.ts';
import { quoted } from './quote.ts';

export const OP_BIN_VOLUME = 'op-bin';
/** With the trailing slash, as 1Password's injector writes it (pods compare equal across both). */
export const OP_BIN_PATH = '/op/bin/';
/** Reserved: an init container of this name is taken to be an earlier injection and replaced. */
export const COPY_CONTAINER_NAME = 'copy-op-bin';
export const OP_RUN_PREFIX: readonly string[] = [`${OP_BIN_PATH}op`, 'run', '--'];

export interface CopyContainerOptions {
  /** Numeric, because the kubelet can only enforce runAsNonRoot against a numeric user. */
  readonly runAsUser: number;
  readonly resources: V1ResourceRequirements;
}

/** What the op CLI reports to 1Password as its caller (OP_INTEGRATION_*). */
export interface IntegrationOptions {
  readonly name: string;
  readonly id: string;
  /** op-kube's version; the build number is derived from it as 1Password's injector does. */
  readonly version: string;
}

export interface InjectionOptions {
  /** Image repository of the op CLI; the tag comes from the version annotation. */
  readonly opImage: string;
  /** Connect's URL as seen from pods; without it no credentials are wired (see tokenEnv). */
  readonly connectHost: string | undefined;
  readonly injectToken: 'auto' | 'never';
  readonly tokenSecretName: string;
  readonly tokenSecretKey: string;
  readonly copyContainer: CopyContainerOptions;
  readonly integration: IntegrationOptions;
}

/**
 * Memory request = limit = 64Mi: the op binary (~30MB) copied into the Memory emptyDir is charged
 * to this container's cgroup, so less would OOM-kill the copy, and equal values satisfy any
 * LimitRange ratio. A CPU limit too, because a ResourceQuota on limits.cpu rejects pods with any
 * container lacking one; a single `cp` never needs more.
 */
export const DEFAULT_COPY_CONTAINER_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '10m', memory: '64Mi' },
  limits: { cpu: '100m', memory: '64Mi' },
};

/**
 * 1Password's own integration name and id: the op CLI and 1Password's servers know them, whereas
 * an unknown id or a badly formed build number has made the CLI fail with "bad request" for other
 * integrations. Both are options, for those who would rather report op-kube.
 */
export const DEFAULT_INTEGRATION_NAME = '1Password Kubernetes Webhook';
export const DEFAULT_INTEGRATION_ID = 'K8W';

export function defaultInjectionOptions(version: string): InjectionOptions {
  return {
    opImage: '1password/op',
    connectHost: undefined,
    injectToken: 'auto',
    tokenSecretName: 'onepassword-token',
    tokenSecretKey: 'token',
    copyContainer: { runAsUser: 65532, resources: DEFAULT_COPY_CONTAINER_RESOURCES },
    integration: { name: DEFAULT_INTEGRATION_NAME, id: DEFAULT_INTEGRATION_ID, version },
  };
}

/**
 * 1Password's build-number format: major, then minor and patch padded to two digits, then "01"
 * (`1.0.2` → `1000201`). A pre-release suffix is dropped so the number stays numeric; a version
 * that does not start with x.y.z counts as 0.0.0.
 */
export function integrationBuildNumber(version: string): string {
  const [, major = '0', minor = '0', patch = '0'] =
    /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim()) ?? [];
  return `${major}${minor.padStart(2, '0')}${patch.padStart(2, '0')}01`;
}

/** An image's ENTRYPOINT and CMD (see registry/manifest.ts), as Kubernetes combines them. */
export interface ImageStart {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
}

/**
 * For listed containers without a command: what their image starts, read from its registry at
 * the edge (registry/entrypoints.ts), or why it could not be. Absent: no resolution (a container
 * without a command is denied, as before).
 */
export type ResolvedImages = ReadonlyMap<string, ResolvedImage>;

export type ResolvedImage =
  | { readonly kind: 'resolved'; readonly start: ImageStart }
  | { readonly kind: 'failed'; readonly why: string };

export type MutationResult =
  /** Not for this webhook, or already done: admit unchanged. */
  | { readonly kind: 'skip'; readonly reason: string }
  /**
   * `injected` names the containers now started through `op run`, init containers first. `patch`
   * turns the pod given into `pod` (RFC 6902, paths per RFC 6901), built from the mutation's own
   * steps; `pod` shares every part it does not change with the pod given.
   */
  | {
      readonly kind: 'mutated';
      readonly pod: V1Pod;
      readonly injected: readonly string[];
      readonly patch: readonly PatchOperation[];
    }
  /** The pod asks for injection that cannot be done: reject it with this message. */
  | { readonly kind: 'deny'; readonly message: string };

/**
 * A JSON patch operation as the apiserver applies it: `add` to a new object member or array index
 * (`-` appends), `replace` of an object member present in the pod as sent.
 */
export interface PatchOperation {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: unknown;
}

/** RFC 6901: `~` then `/` escaped, so `operator.1password.io/status` is one key. */
function pointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** `object[key] = value` as an operation: replace when the member is there (even null), else add. */
function setMember(
  patch: PatchOperation[],
  object: object,
  path: string,
  key: string,
  value: unknown,
): void {
  patch.push({
    op: Object.hasOwn(object, key) ? 'replace' : 'add',
    path: `${path}/${pointerToken(key)}`,
    value,
  });
}

/** The annotation's names, trimmed, empty entries dropped, each once (1Password's trims nothing). */
export function parseContainerNames(annotation: string): string[] {
  return [
    ...new Set(
      annotation
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
    ),
  ];
}

// A Docker tag, optionally pinned by digest (`2@sha256:…`). Checked here because the apiserver
// accepts any image string and a bad one would only show up later as ImagePullBackOff.
const IMAGE_TAG = /^[\w][\w.-]{0,127}(@[a-z0-9]+([+._-][a-z0-9]+)*:[a-fA-F0-9]{32,})?$/;

export type InjectionTargets =
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'inject'; readonly names: readonly string[] };

/**
 * Whether the pod asks for injection, from its inject and status annotations alone: nothing else
 * of a pod is read unless it does (see pod-shape.ts, which checks exactly what is then read).
 */
export function injectionTargets(
  inject: string | undefined,
  status: string | undefined,
): InjectionTargets {
  if (inject === undefined) return { kind: 'skip', reason: `no ${INJECT_ANNOTATION} annotation` };
  // Case-insensitive, as 1Password's injector compares it.
  if (status?.trim().toLowerCase() === STATUS_INJECTED) {
    return { kind: 'skip', reason: `already injected (${STATUS_ANNOTATION}=${STATUS_INJECTED})` };
  }
  const names = parseContainerNames(inject);
  if (names.length === 0) {
    return { kind: 'skip', reason: `${INJECT_ANNOTATION} names no container` };
  }
  return { kind: 'inject', names };
}

/**
 * `pod` must have the types V1Pod gives it wherever this reads, which checkPodShape ensures for
 * any JSON; lists may also be null, which reads as absent.
 */
export function mutatePod(
  pod: V1Pod,
  options: InjectionOptions,
  images?: ResolvedImages,
): MutationResult {
  const annotations = pod.metadata?.annotations ?? {};
  const targets = injectionTargets(annotations[INJECT_ANNOTATION], annotations[STATUS_ANNOTATION]);
  if (targets.kind === 'skip') return targets;
  const { names } = targets;

  // Every problem is collected, so one rejection tells the author everything to fix.
  const problems: string[] = [];
  const version = annotations[VERSION_ANNOTATION]?.trim() || DEFAULT_OP_VERSION;
  if (!IMAGE_TAG.test(version)) {
    problems.push(`${VERSION_ANNOTATION}=${quoted(version)} is not an image tag`);
  }
  const initFirst = parseInitFirst(annotations[INIT_FIRST_ANNOTATION]);
  if (initFirst === undefined) {
    problems.push(
      `${INIT_FIRST_ANNOTATION}=${quoted(annotations[INIT_FIRST_ANNOTATION])} must be "true" or "false"`,
    );
  }

  const initContainers = pod.spec?.initContainers ?? [];
  const containers = pod.spec?.containers ?? [];
  const all = [...initContainers, ...containers];
  // 1Password's injector ignores a name that matches nothing; then a typo ("app,wroker") starts
  // the worker with literal op:// references as its secrets. Failing where the pod is written
  // (for a Deployment: a FailedCreate event on its ReplicaSet) is the safer surprise.
  const unknown = names.filter((name) => !all.some((container) => container.name === name));
  if (unknown.length > 0) {
    problems.push(
      `${INJECT_ANNOTATION} names ${quoteList(unknown)}, but the pod has no such container ` +
        `(its containers: ${quoteList(all.map((container) => container.name)) || 'none'})`,
    );
  }
  // An init container of that name is an earlier injection and is replaced; a regular one would
  // sit beside the one added, a duplicate name the apiserver refuses with a less helpful message.
  if (containers.some((container) => container.name === COPY_CONTAINER_NAME)) {
    problems.push(
      `the container name "${COPY_CONTAINER_NAME}" is reserved for the init container op-kube ` +
        'adds; rename the container',
    );
  }
  const targeted = (container: V1Container): boolean => names.includes(container.name);
  for (const container of all.filter(targeted)) {
    problems.push(...containerProblems(container, images?.get(container.name)));
  }
  const existingVolume = pod.spec?.volumes?.find((volume) => volume.name === OP_BIN_VOLUME);
  if (existingVolume && !existingVolume.emptyDir) {
    problems.push(
      `the pod already has a volume "${OP_BIN_VOLUME}" that is not an emptyDir; ` +
        'op-kube needs that name for the op binary',
    );
  }
  if (problems.length > 0) return { kind: 'deny', message: problems.join('; ') };

  // No copy of the pod: what changes is rebuilt (the containers injected, the lists holding them,
  // spec, metadata) and everything else is shared, while each step records its JSON patch
  // operation, so the answer needs neither a deep copy nor a diff (docs/benchmarks.md, Webhook).
  const spec = pod.spec ?? { containers: [] };
  const patch: PatchOperation[] = [];
  const injected: string[] = [];
  const injectList = (
    list: readonly V1Container[] | null | undefined,
    path: string,
  ): V1Container[] | undefined =>
    list?.map((container, index) => {
      if (!targeted(container)) return container;
      injected.push(container.name);
      return injectContainer(
        container,
        options,
        images?.get(container.name),
        `${path}/${index}`,
        patch,
      );
    });

  // copy-op-bin must run before any init container it serves. Left alone it goes last, as in
  // 1Password's injector, so init containers that do not use op (network setup, migrations of
  // their own) keep running first; an injected init container pulls it in front of itself; the
  // init-first annotation puts it before everything.
  const copy = copyContainer(`${options.opImage}:${version}`, options.copyContainer);
  const initPatch: PatchOperation[] = [];
  // `?? []`: a pod with only init containers arrives with "containers": null.
  const injectedInit = injectList(spec.initContainers, '/spec/initContainers');
  const init = (injectedInit ?? []).filter((container) => container.name !== COPY_CONTAINER_NAME);
  const firstInjected = init.findIndex(targeted);
  const at = initFirst ? 0 : firstInjected === -1 ? init.length : firstInjected;
  init.splice(at, 0, copy);
  if (injectedInit && injectedInit.length + 1 === init.length) {
    // No earlier copy-op-bin removed: the injected init containers' operations stand at their
    // indexes as sent, and copy-op-bin is inserted after them.
    initPatch.push(...patch.splice(0), {
      op: 'add',
      path: `/spec/initContainers/${at}`,
      value: copy,
    });
  } else {
    // No list, or earlier copy-op-bin containers dropped: the whole list, whose injected
    // containers already carry their changes.
    patch.length = 0;
    setMember(initPatch, spec, '/spec', 'initContainers', init);
  }
  const injectedContainers = injectList(spec.containers, '/spec/containers');

  const volumes = existingVolume
    ? spec.volumes
    : Array.isArray(spec.volumes)
      ? [...spec.volumes, opBinVolume()]
      : [opBinVolume()];
  const volumePatch: PatchOperation[] = [];
  if (!existingVolume) {
    if (Array.isArray(spec.volumes)) {
      volumePatch.push({ op: 'add', path: '/spec/volumes/-', value: opBinVolume() });
    } else {
      setMember(volumePatch, spec, '/spec', 'volumes', volumes);
    }
  }

  const mutatedSpec = {
    ...spec,
    initContainers: init,
    ...(injectedContainers === undefined ? {} : { containers: injectedContainers }),
    ...(volumes === undefined ? {} : { volumes }),
  };
  const mutated: V1Pod = {
    ...pod,
    metadata: {
      ...pod.metadata,
      annotations: { ...annotations, [STATUS_ANNOTATION]: STATUS_INJECTED },
    },
    spec: mutatedSpec,
  };
  const metadataPatch: PatchOperation[] = [];
  if (pod.metadata?.annotations) {
    setMember(
      metadataPatch,
      pod.metadata.annotations,
      '/metadata/annotations',
      STATUS_ANNOTATION,
      STATUS_INJECTED,
    );
  } else {
    // Unreachable (the inject annotation is there), kept whole for safety.
    setMember(metadataPatch, pod, '', 'metadata', mutated.metadata);
  }
  return {
    kind: 'mutated',
    pod: mutated,
    injected,
    patch: pod.spec
      ? [...metadataPatch, ...initPatch, ...patch, ...volumePatch]
      : [...metadataPatch, { op: 'add', path: '/spec', value: mutatedSpec }],
  };
}

/** Absent or blank → false; undefined when the value means neither. */
function parseInitFirst(raw: string | undefined): boolean | undefined {
  const value = (raw ?? '').trim().toLowerCase();
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  return undefined;
}

function quoteList(names: readonly string[]): string {
  return names.map(quoted).join(', ');
}

const normalizedOpBinPath = OP_BIN_PATH.replace(/\/+$/, '');
const mountsAtOpBin = (mountPath: string): boolean =>
  mountPath.replace(/\/+$/, '') === normalizedOpBinPath;

function containerProblems(container: V1Container, image: ResolvedImage | undefined): string[] {
  const problems: string[] = [];
  // Without a command, Kubernetes runs the image's ENTRYPOINT, which the pod spec does not show:
  // read from the registry when resolution is on, else there is nothing to put after `op run --`.
  if (!container.command?.length && image?.kind === 'failed') {
    problems.push(
      `container ${quoted(container.name)} has no command and its image's ENTRYPOINT could not be read: ${image.why}`,
    );
  } else if (
    !container.command?.length &&
    image?.kind === 'resolved' &&
    image.start.entrypoint.length === 0 &&
    image.start.cmd.length === 0 &&
    !container.args?.length
  ) {
    problems.push(
      `container ${quoted(container.name)} has no command or args and its image has no ENTRYPOINT or CMD: nothing to run`,
    );
  } else if (!container.command?.length && image === undefined) {
    problems.push(
      `container ${quoted(container.name)} has no command; op-kube needs the command to wrap it ` +
        `with "op run" (set command to the image's entrypoint)`,
    );
  }
  const clash = container.volumeMounts?.find(
    (mount) => mountsAtOpBin(mount.mountPath) && mount.name !== OP_BIN_VOLUME,
  );
  if (clash) {
    problems.push(
      `container ${quoted(container.name)} already mounts volume ${quoted(clash.name)} at ${OP_BIN_PATH}, ` +
        'where op-kube puts the op binary',
    );
  }
  return problems;
}

function startsWithOpRun(command: readonly string[]): boolean {
  return OP_RUN_PREFIX.every((part, index) => command[index] === part);
}

/**
 * Each step checks for its own earlier result, so a pod injected before but stripped of its status
 * annotation comes out the same rather than wrapped twice.
 */
function injectContainer(
  container: V1Container,
  options: InjectionOptions,
  image: ResolvedImage | undefined,
  path: string,
  patch: PatchOperation[],
): V1Container {
  const result: V1Container = { ...container };
  if (!container.command?.length && image?.kind === 'resolved') {
    // Kubernetes' rules: no command → the image's ENTRYPOINT, and then args, if set, replace its
    // CMD; op run goes in front of what the runtime would have run, unchanged.
    result.command = [...image.start.entrypoint];
    if (!container.args?.length && image.start.cmd.length > 0) {
      result.args = [...image.start.cmd];
      setMember(patch, container, path, 'args', result.args);
    }
  }
  const command = result.command ?? [];
  if (!startsWithOpRun(command)) result.command = [...OP_RUN_PREFIX, ...command];
  if (result.command !== container.command) {
    setMember(patch, container, path, 'command', result.command);
  }

  const mounts = container.volumeMounts ?? [];
  if (!mounts.some((mount) => mount.name === OP_BIN_VOLUME && mountsAtOpBin(mount.mountPath))) {
    const mount = { name: OP_BIN_VOLUME, mountPath: OP_BIN_PATH, readOnly: true };
    result.volumeMounts = [...mounts, mount];
    if (Array.isArray(container.volumeMounts)) {
      patch.push({ op: 'add', path: `${path}/volumeMounts/-`, value: mount });
    } else {
      setMember(patch, container, path, 'volumeMounts', result.volumeMounts);
    }
  } else {
    result.volumeMounts = mounts;
  }

  const env = container.env ?? [];
  const missing = (variable: V1EnvVar): boolean =>
    !env.some((existing) => existing.name === variable.name);
  const added = [...tokenEnv(container, options), ...integrationEnv(options)].filter(missing);
  result.env = added.length > 0 ? [...env, ...added] : env;
  if (!Array.isArray(container.env)) {
    setMember(patch, container, path, 'env', result.env);
  } else {
    for (const variable of added) {
      patch.push({ op: 'add', path: `${path}/env/-`, value: variable });
    }
  }
  return result;
}

const CREDENTIAL_ENV = ['OP_CONNECT_HOST', 'OP_CONNECT_TOKEN', 'OP_SERVICE_ACCOUNT_TOKEN'];

/**
 * Connect credentials for a container that names none itself. A container with envFrom is left
 * alone: the Secret or ConfigMap may well carry them, and the webhook cannot look inside. Without
 * a connectHost nothing is wired: 1Password's fallback `http://onepassword-connect:8080` resolves
 * only in Connect's own namespace, and a token op cannot use would only sit in the app's
 * environment. The Secret is referenced in the pod's namespace and not marked optional, so a
 * missing one shows as CreateContainerConfigError naming it, not as an op failure at start.
 */
function tokenEnv(container: V1Container, options: InjectionOptions): V1EnvVar[] {
  if (options.injectToken === 'never' || options.connectHost === undefined) return [];
  if (container.envFrom?.length) return [];
  if (container.env?.some((variable) => CREDENTIAL_ENV.includes(variable.name))) return [];
  return [
    { name: 'OP_CONNECT_HOST', value: options.connectHost },
    {
      name: 'OP_CONNECT_TOKEN',
      valueFrom: { secretKeyRef: { name: options.tokenSecretName, key: options.tokenSecretKey } },
    },
  ];
}

function integrationEnv({ integration }: InjectionOptions): V1EnvVar[] {
  return [
    { name: 'OP_INTEGRATION_NAME', value: integration.name },
    { name: 'OP_INTEGRATION_ID', value: integration.id },
    { name: 'OP_INTEGRATION_BUILDNUMBER', value: integrationBuildNumber(integration.version) },
  ];
}

/**
 * Restricted Pod Security needs every field set here; 1Password's copy-op-bin has none, so it
 * fails restricted namespaces and quota admission. `cp` writes only into the emptyDir, which is
 * world-writable, so it needs no root, no capability and no writable root filesystem.
 */
function copyContainer(image: string, options: CopyContainerOptions): V1Container {
  return {
    name: COPY_CONTAINER_NAME,
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['sh', '-c', `cp /usr/local/bin/op ${OP_BIN_PATH}`],
    volumeMounts: [{ name: OP_BIN_VOLUME, mountPath: OP_BIN_PATH }],
    resources: copyResources(options.resources),
    securityContext: {
      runAsUser: options.runAsUser,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

/**
 * A copy, so the pod shares nothing with the options: its members are maps of quantity strings
 * (requests, limits) or a list of claims, one level deep. structuredClone cost 1.7% of the
 * webhook's CPU for this (docs/benchmarks.md, Webhook).
 */
function copyResources(resources: V1ResourceRequirements): V1ResourceRequirements {
  return Object.fromEntries(
    Object.entries(resources).map(([key, value]: [string, unknown]) => [
      key,
      Array.isArray(value)
        ? value.map((entry: object) => ({ ...entry }))
        : typeof value === 'object' && value !== null
          ? { ...value }
          : value,
    ]),
  );
}

function opBinVolume(): V1Volume {
  return { name: OP_BIN_VOLUME, emptyDir: { medium: 'Memory' } };
}
