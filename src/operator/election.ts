// The operator's manager and, with --leader-elect, its campaign for 1Password's Lease (replicas of either program exclude each other).
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client/client.ts';
import { LeaderElector, ONEPASSWORD_LEADER_ELECTION_ID } from '../kube/runtime/leader-election.ts';
import { Manager, type ElectionFactory } from '../kube/runtime/manager.ts';
import type { OperatorClients } from './clients.ts';
import type { OperatorConfig } from './config.ts';

/** Leader-only runnables wait for the Lease when --leader-elect is on; a lost Lease stops the process. */
export function operatorManager(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  clients: Pick<OperatorClients, 'kube' | 'kubeconfigNamespace'>,
  identity: string,
  logger: Logger,
): Manager {
  return new Manager({
    ...(config.leaderElection.enabled
      ? {
          election: leaderElection(
            config,
            env,
            clients.kubeconfigNamespace,
            clients.kube,
            identity,
            logger,
          ),
        }
      : {}),
    onLeadership: (event) =>
      event === 'started'
        ? logger.info({ identity }, 'became leader')
        : // As controller-runtime does: a replica that lost its lease exits and is restarted fresh.
          logger.warn('lost leadership; stopping'),
  });
}

/** The Lease lives in the pod's namespace unless --leader-election-namespace says otherwise. */
function leaderElection(
  config: OperatorConfig,
  env: NodeJS.ProcessEnv,
  kubeconfigNamespace: string | undefined,
  kube: KubeClient,
  identity: string,
  logger: Logger,
): ElectionFactory {
  const namespace = config.leaderElection.namespace ?? env.POD_NAMESPACE ?? kubeconfigNamespace;
  if (!namespace) {
    throw new Error(
      '--leader-elect needs a namespace for its Lease: set --leader-election-namespace or POD_NAMESPACE',
    );
  }
  return (callbacks) =>
    new LeaderElector(kube, {
      namespace,
      name: ONEPASSWORD_LEADER_ELECTION_ID,
      identity,
      callbacks,
      onError: (error, phase) =>
        logger.warn(
          { phase, err: error instanceof Error ? { message: error.message } : undefined },
          'leader election',
        ),
    });
}
