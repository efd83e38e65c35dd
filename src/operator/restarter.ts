// Rolls the Deployments, StatefulSets and DaemonSets that use a Secret whose data changed.
import type {
  KubernetesListObject,
  KubernetesObject,
  V1Namespace,
  V1PodTemplateSpec,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { CONTENT_TYPE, type KubeClient } from '../kube/client/client.ts';
import { resourcePath } from '../kube/client/resources.ts';
import type { EventRecorder } from '../kube/events.ts';
import { FIELD_MANAGER, ITEM_NAME_ANNOTATION, LAST_RESTARTED_ANNOTATION } from './annotations.ts';
import { sanitizeSecretName } from './secret-data.ts';
import type { OnePasswordItem } from './api.ts';
import { InvalidAnnotationError, podSpecUsesSecret, shouldRestart } from './workload-refs.ts';

type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

const PLURALS: Readonly<Record<WorkloadKind, string>> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

interface Workload extends KubernetesObject {
  spec?: { template?: V1PodTemplateSpec };
}

export interface RestarterOptions {
  readonly client: KubeClient;
  readonly events: EventRecorder;
  readonly logger: Logger;
  /** AUTO_RESTART. */
  readonly autoRestart: boolean;
  readonly now?: () => Date;
}

export class WorkloadRestarter {
  readonly #options: RestarterOptions;

  constructor(options: RestarterOptions) {
    this.#options = options;
  }

  /**
   * Restarts, once, every workload in the namespace whose pods use the Secret (or, a Deployment,
   * whose item-name annotation names it) and whose precedence
   * chain (item > workload > namespace > AUTO_RESTART) says so. An invalid annotation on a
   * workload or namespace is reported on that object and skips it; one on the item throws.
   */
  async secretChanged(namespace: string, secretName: string, item: OnePasswordItem): Promise<void> {
    const itemAnnotations = item.metadata?.annotations;
    // Fails early, with InvalidAnnotation on the item, before anything is listed.
    shouldRestart({ item: itemAnnotations, global: false });
    const { client } = this.#options;
    const list = (kind: WorkloadKind): Promise<KubernetesListObject<Workload>> =>
      client.request({
        method: 'GET',
        path: resourcePath({ apiVersion: 'apps/v1', plural: PLURALS[kind], namespace }),
        operation: `list ${kind}s in ${namespace}`,
      });
    const [deployments, statefulSets, daemonSets, namespaceObject] = await Promise.all([
      list('Deployment'),
      list('StatefulSet'),
      list('DaemonSet'),
      client.request<V1Namespace>({
        method: 'GET',
        path: resourcePath({ apiVersion: 'v1', plural: 'namespaces', name: namespace }),
        operation: `get Namespace ${namespace}`,
      }),
    ]);
    const candidates: [WorkloadKind, Workload][] = [
      ...deployments.items.map((w): [WorkloadKind, Workload] => ['Deployment', w]),
      ...statefulSets.items.map((w): [WorkloadKind, Workload] => ['StatefulSet', w]),
      ...daemonSets.items.map((w): [WorkloadKind, Workload] => ['DaemonSet', w]),
    ];
    for (const [kind, workload] of candidates) {
      if (!podSpecUsesSecret(workload.spec?.template?.spec, secretName)) {
        // 1Password also rolls a Deployment whose item-name annotation (on its metadata) names the
        // Secret, even when its pods do not read it.
        const itemName = workload.metadata?.annotations?.[ITEM_NAME_ANNOTATION];
        const asks =
          kind === 'Deployment' &&
          itemName !== undefined &&
          (itemName === secretName || sanitizeSecretName(itemName) === secretName);
        if (!asks) continue;
      }
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
    await this.#options.client.request({
      method: 'PATCH',
      path: resourcePath({ apiVersion: 'apps/v1', plural: PLURALS[kind], namespace, name }),
      query: { fieldManager: FIELD_MANAGER },
      body,
      contentType: CONTENT_TYPE.mergePatch,
      operation: `restart ${kind} ${namespace}/${name}`,
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
