// Whether a workload uses a Secret, and whether a change should restart it (1Password's precedence).
import type { V1PodSpec } from '@kubernetes/client-node';
import { AUTO_RESTART_ANNOTATION } from './annotations.ts';
import { OpKubeError } from '../kube/errors.ts';

/**
 * True when any container (init containers too) reads the Secret through env or envFrom, or any
 * volume (projected ones too) mounts it.
 */
export function podSpecUsesSecret(spec: V1PodSpec | undefined, secretName: string): boolean {
  if (!spec) return false;
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const inContainers = containers.some(
    (container) =>
      container.env?.some((variable) => variable.valueFrom?.secretKeyRef?.name === secretName) ||
      container.envFrom?.some((source) => source.secretRef?.name === secretName),
  );
  const inVolumes = (spec.volumes ?? []).some(
    (volume) =>
      volume.secret?.secretName === secretName ||
      volume.projected?.sources?.some((source) => source.secret?.name === secretName),
  );
  return inContainers || inVolumes;
}

/** An annotation with a value op-kube cannot use: terminal until the object changes. */
export class InvalidAnnotationError extends OpKubeError<'InvalidAnnotation'> {
  override readonly name = 'InvalidAnnotationError';

  constructor(message: string, options?: ErrorOptions) {
    super('InvalidAnnotation', message, { ...options, terminal: true });
  }
}

/** Reads an `auto-restart` annotation: "true"/"false", absent → undefined, else an error. */
export function autoRestartSetting(
  annotations: Readonly<Record<string, string>> | undefined,
  where: string,
): boolean | undefined {
  const raw = annotations?.[AUTO_RESTART_ANNOTATION];
  if (raw === undefined) return undefined;
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidAnnotationError(
    `${where} has ${AUTO_RESTART_ANNOTATION}=${JSON.stringify(raw)}: expected "true" or "false"`,
  );
}

export interface RestartSources {
  /** The OnePasswordItem's (copied to its Secret) — highest precedence. */
  readonly item?: Readonly<Record<string, string>>;
  readonly workload?: Readonly<Record<string, string>>;
  readonly namespace?: Readonly<Record<string, string>>;
  /** AUTO_RESTART. */
  readonly global: boolean;
}

/** Precedence as 1Password documents it: Secret/item > workload > namespace > AUTO_RESTART. */
export function shouldRestart(sources: RestartSources): boolean {
  return (
    autoRestartSetting(sources.item, 'the OnePasswordItem') ??
    autoRestartSetting(sources.workload, 'the workload') ??
    autoRestartSetting(sources.namespace, 'the namespace') ??
    sources.global
  );
}
