// The workload restarter on a fake apiserver: which workloads a changed Secret rolls.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { KubeClient } from '../../../src/kube/client/client.ts';
import type { EventRecorder } from '../../../src/kube/events.ts';
import { WorkloadRestarter } from '../../../src/operator/restarter.ts';

interface Request {
  readonly method: string;
  readonly path: string;
}

function fakeCluster(deployments: object[], namespaceAnnotations: Record<string, string> = {}) {
  const patched: string[] = [];
  const client = {
    request(request: Request): Promise<unknown> {
      if (request.method === 'PATCH') {
        patched.push(request.path);
        return Promise.resolve({});
      }
      if (request.path.endsWith('/deployments')) return Promise.resolve({ items: deployments });
      if (request.path.includes('/namespaces/apps') && !request.path.includes('/apis/')) {
        return Promise.resolve({ metadata: { name: 'apps', annotations: namespaceAnnotations } });
      }
      return Promise.resolve({ items: [] });
    },
  } as unknown as KubeClient;
  const events = { normal() {}, warning() {} } as unknown as EventRecorder;
  return { client, events, patched };
}

const annotated = (annotations: Record<string, string>) => ({
  metadata: { namespace: 'apps', name: 'web', annotations },
  spec: { template: { spec: { containers: [{ name: 'app' }] } } },
});

describe('WorkloadRestarter', () => {
  it('restarts a Deployment that carries only item-path/item-name for the Secret, as 1Password does', async () => {
    const { client, events, patched } = fakeCluster([
      annotated({
        'operator.1password.io/item-path': 'vaults/v/items/i',
        'operator.1password.io/item-name': 'db',
        'operator.1password.io/auto-restart': 'true',
      }),
    ]);
    const restarter = new WorkloadRestarter({
      client,
      events,
      logger: pino({ level: 'silent' }),
      autoRestart: false,
    });
    await restarter.secretChanged('apps', 'db', {});
    assert.deepEqual(patched, ['/apis/apps/v1/namespaces/apps/deployments/web']);
  });

  it('follows AUTO_RESTART for such a Deployment without its own setting, and skips other names', async () => {
    const { client, events, patched } = fakeCluster([
      annotated({ 'operator.1password.io/item-name': 'db' }),
      {
        ...annotated({ 'operator.1password.io/item-name': 'other' }),
        metadata: {
          namespace: 'apps',
          name: 'other',
          annotations: { 'operator.1password.io/item-name': 'other' },
        },
      },
    ]);
    const off = new WorkloadRestarter({
      client,
      events,
      logger: pino({ level: 'silent' }),
      autoRestart: false,
    });
    await off.secretChanged('apps', 'db', {});
    assert.deepEqual(patched, []);
    const on = new WorkloadRestarter({
      client,
      events,
      logger: pino({ level: 'silent' }),
      autoRestart: true,
    });
    await on.secretChanged('apps', 'db', {});
    assert.deepEqual(patched, ['/apis/apps/v1/namespaces/apps/deployments/web']);
  });
});
