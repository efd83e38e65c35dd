// Rolls the Deployments, StatefulSets and DaemonSets that use a Secret whose data changed.
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { kubeCall, requestOptions } from '../kube/apply.ts';
import type { EventRecorder } from '../kube/events.ts';
import { FIELD_MANAGER, LAST_RESTARTED_ANNOTATION } from './annotations.ts';
import type { OnePasswordItem } from './item-reconciler.ts';
import { InvalidAnnotationError, podSpecUsesSecret, shouldRestart } from './workload-refs.ts';

type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

interface Workload extends KubernetesObject {
  spec?: { template?: V1PodTemplateSpec };
}

export interface RestarterOptions {
  readonly kubeConfig: KubeConfig;
  readonly events: EventRecorder;
  readonly logger: Logger;
  /** AUTO_RESTART. */
  readonly autoRestart: boolean;
  readonly now?: () => Date;
}

export class WorkloadRestarter {
  readonly #options: RestarterOptions;
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;

  constructor(options: RestarterOptions) {
    this.#options = options;
    this.#apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
  }

  /**
   * Restarts, once, every workload in the namespace whose pods use the Secret and whose precedence
   * chain (item > workload > namespace > AUTO_RESTART) says so. An invalid annotation on a
   * workload or namespace is reported on that object and skips it; one on the item throws.
   */
  async secretChanged(namespace: string, secretName: string, item: OnePasswordItem): Promise<void> {
    const itemAnnotations = item.metadata?.annotations;
    // Fails early, with InvalidAnnotation on the item, before anything is listed.
    shouldRestart({ item: itemAnnotations, global: false });
    const [deployments, statefulSets, daemonSets, namespaceObject] = await Promise.all([
      kubeCall(`list Deployments in ${namespace}`, () =>
        this.#apps.listNamespacedDeployment({ namespace }),
      ),
      kubeCall(`list StatefulSets in ${namespace}`, () =>
        this.#apps.listNamespacedStatefulSet({ namespace }),
      ),
      kubeCall(`list DaemonSets in ${namespace}`, () =>
        this.#apps.listNamespacedDaemonSet({ namespace }),
      ),
      kubeCall(`get Namespace ${namespace}`, () => this.#core.readNamespace({ name: namespace })),
    ]);
    const candidates: [WorkloadKind, Workload][] = [
      ...deployments.items.map((w): [WorkloadKind, Workload] => ['Deployment', w]),
      ...statefulSets.items.map((w): [WorkloadKind, Workload] => ['StatefulSet', w]),
      ...daemonSets.items.map((w): [WorkloadKind, Workload] => ['DaemonSet', w]),
    ];
    for (const [kind, workload] of candidates) {
      if (!podSpecUsesSecret(workload.spec?.template?.spec, secretName)) continue;
      let restart: boolean;
      try {
        restart = shouldRestart({
          item: itemAnnotations,
          workload: workload.metadata?.annotations,
          namespace: namespaceObject.metadata?.annotations,
          global: this.#options.autoRestart,
        });
      } catch (error) {
        if (!(error instanceof InvalidAnnotationError)) throw error;
        this.#options.events.warning(
          { ...workload, apiVersion: 'apps/v1', kind },
          error.reason,
          error.message,
        );
        continue;
      }
      if (restart) await this.#restart(kind, namespace, workload, secretName);
    }
  }

  async #restart(
    kind: WorkloadKind,
    namespace: string,
    workload: Workload,
    secretName: string,
  ): Promise<void> {
    const name = workload.metadata?.name ?? '';
    const now = (this.#options.now ?? (() => new Date()))()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z');
    const body = {
      spec: { template: { metadata: { annotations: { [LAST_RESTARTED_ANNOTATION]: now } } } },
    };
    const options = requestOptions({ contentType: PatchStrategy.MergePatch });
    const request = { namespace, name, body, fieldManager: FIELD_MANAGER };
    await kubeCall(`restart ${kind} ${namespace}/${name}`, () => {
      switch (kind) {
        case 'Deployment':
          return this.#apps.patchNamespacedDeployment(request, options);
        case 'StatefulSet':
          return this.#apps.patchNamespacedStatefulSet(request, options);
        case 'DaemonSet':
          return this.#apps.patchNamespacedDaemonSet(request, options);
      }
    });
    this.#options.logger.info(
      { kind, namespace, name, secret: secretName },
      'restarted workload after its Secret changed',
    );
    this.#options.events.normal(
      { ...workload, apiVersion: 'apps/v1', kind },
      'Restarted',
      `Secret ${secretName} changed`,
    );
  }
}
