// The start-up CRD check: 1Password's CRDs (as its chart and its kustomize config install them) are
// reported as outdated with what to run; op-kube's own passes; a CRD that cannot be read is
// logged once and never stops the operator.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { repoRoot } from '../../../tools/cluster/paths.ts';
import { KubeApiError } from '../../../src/kube/client/api-error.ts';
import type { KubeClient, KubeRequest } from '../../../src/kube/client/client.ts';
import {
  CRD_VERSION,
  CRD_VERSION_ANNOTATION,
  ITEM_CRD_NAME,
  assessCrd,
  checkItemCrd,
  readCrdFile,
  type CustomResourceDefinition,
} from '../../../src/operator/crd-check.ts';
import { createOperatorMetrics } from '../../../src/operator/metrics.ts';

const OURS = join(repoRoot, 'crds', 'onepassword.com_onepassworditems.yaml');
const CHART_COPY = join(
  repoRoot,
  'charts',
  'op-kube',
  'crds',
  'onepassword.com_onepassworditems.yaml',
);
const THEIRS = {
  chart: join(repoRoot, 'test', 'fixtures', '1password-crd', 'chart.yaml'),
  operator: join(repoRoot, 'test', 'fixtures', '1password-crd', 'operator.yaml'),
};

interface Recorded {
  readonly logs: { level: number; msg: string; [key: string]: unknown }[];
  readonly events: { object: CustomResourceDefinition; reason: string; message: string }[];
  readonly outdated: (boolean | undefined)[];
  readonly requests: KubeRequest[];
}

async function runCheck(answer: (request: KubeRequest) => unknown): Promise<Recorded> {
  const recorded: Recorded = { logs: [], events: [], outdated: [], requests: [] };
  const kube = {
    // Async: what `answer` throws becomes the rejection, as the client's failures are.
    request: async (request: KubeRequest) => {
      recorded.requests.push(request);
      await Promise.resolve();
      return answer(request);
    },
  } as unknown as KubeClient;
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) =>
        void recorded.logs.push(JSON.parse(line) as Recorded['logs'][number]),
    },
  );
  await checkItemCrd({
    kube,
    logger,
    events: {
      warning: (object, reason, message) =>
        void recorded.events.push({ object: object, reason, message }),
    },
    setOutdated: (outdated) => void recorded.outdated.push(outdated),
  });
  return recorded;
}

function stored(crd: CustomResourceDefinition): CustomResourceDefinition {
  return { ...crd, metadata: { ...crd.metadata, uid: 'crd-uid', resourceVersion: '7' } };
}

describe('assessCrd', () => {
  it("finds op-kube's CRD (and the chart's copy) current, carrying this build's revision", async () => {
    for (const path of [OURS, CHART_COPY]) {
      const crd = await readCrdFile(path);
      assert.equal(crd.metadata?.annotations?.[CRD_VERSION_ANNOTATION], String(CRD_VERSION));
      assert.deepEqual(assessCrd(crd), { outdated: false, version: CRD_VERSION, missing: [] });
    }
  });

  for (const [origin, path] of Object.entries(THEIRS)) {
    it(`finds 1Password's CRD as its ${origin} installs it outdated, naming the pruned fields`, async () => {
      const assessment = assessCrd(await readCrdFile(path));
      assert.equal(assessment.outdated, true);
      assert.equal(assessment.version, undefined);
      for (const lacking of [
        `${CRD_VERSION_ANNOTATION} >= ${CRD_VERSION}`,
        'status.itemVersion',
        'status.lastSyncTime',
        'status.observedGeneration',
        'status.secretName',
        'status.conditions[].reason',
        'spec.keys',
        'spec.includeOtherKeys',
        'spec.secretMetadata',
        'spec.extraItems',
        'spec.refreshInterval',
        'printer column Reason',
        'printer column Version',
        'printer column Synced',
      ]) {
        assert.ok(
          assessment.missing.includes(lacking),
          `${lacking} in ${assessment.missing.join(', ')}`,
        );
      }
    });
  }

  it("finds an older revision of op-kube's CRD outdated, a newer one (a rollback) current", async () => {
    const crd = await readCrdFile(OURS);
    const withVersion = (value: string): CustomResourceDefinition => ({
      ...crd,
      metadata: { ...crd.metadata, annotations: { [CRD_VERSION_ANNOTATION]: value } },
    });
    assert.deepEqual(assessCrd(withVersion(String(CRD_VERSION - 1))).missing, [
      `${CRD_VERSION_ANNOTATION} >= ${CRD_VERSION}`,
    ]);
    assert.equal(assessCrd(withVersion(String(CRD_VERSION + 1))).outdated, false);
    assert.equal(assessCrd(withVersion('one')).outdated, true);
  });
});

describe('checkItemCrd', () => {
  it("reports 1Password's CRD once: a warning naming the command, a Warning Event on the CRD, the gauge at 1", async () => {
    const theirs = stored(await readCrdFile(THEIRS.chart));
    const recorded = await runCheck(() => theirs);
    assert.equal(recorded.requests.length, 1);
    assert.equal(
      recorded.requests[0]?.path,
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${ITEM_CRD_NAME}`,
    );
    assert.deepEqual(recorded.outdated, [true]);
    const warnings = recorded.logs.filter((line) => line.level === 40);
    assert.equal(warnings.length, 1);
    const [warning] = warnings;
    assert.ok(warning);
    for (const text of [
      '--set crds.upgrade=true',
      'kubectl apply --server-side --force-conflicts -f crds/onepassword.com_onepassworditems.yaml',
      'op-kube crds apply',
      'status.itemVersion',
      // A selection the CRD drops would map the whole item: the warning must say so.
      'spec.keys',
      "1Password's whole-item mapping",
    ]) {
      assert.ok(warning.msg.includes(text), `${text} in ${warning.msg}`);
    }
    assert.equal(recorded.events.length, 1);
    const [event] = recorded.events;
    assert.ok(event);
    assert.equal(event.reason, 'OutdatedCRD');
    assert.equal(event.message, warning.msg);
    assert.ok(
      Buffer.byteLength(event.message) <= 1024,
      `${Buffer.byteLength(event.message)} bytes`,
    );
    assert.deepEqual(event.object, {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: ITEM_CRD_NAME, uid: 'crd-uid' },
    });
  });

  it("stays quiet about op-kube's current CRD: gauge 0, no Event, no warning", async () => {
    const ours = stored(await readCrdFile(OURS));
    const recorded = await runCheck(() => ours);
    assert.deepEqual(recorded.outdated, [false]);
    assert.equal(recorded.events.length, 0);
    assert.equal(recorded.logs.filter((line) => line.level >= 40).length, 0);
  });

  it('logs once and goes on when the CRD cannot be read (403): no Event, no gauge sample', async () => {
    const recorded = await runCheck(() => {
      throw new KubeApiError({ status: 403, reason: 'Forbidden' }, 'forbidden');
    });
    assert.deepEqual(recorded.outdated, [undefined]);
    assert.equal(recorded.events.length, 0);
    assert.equal(recorded.logs.length, 1);
    assert.match(recorded.logs[0]?.msg ?? '', /cannot read the CRD .*not checked/);
  });

  it('says what to install when the CRD is missing (404)', async () => {
    const recorded = await runCheck(() => {
      throw new KubeApiError({ status: 404, reason: 'NotFound' }, 'not found');
    });
    assert.deepEqual(recorded.outdated, [true]);
    assert.equal(recorded.logs[0]?.level, 50);
    assert.match(recorded.logs[0]?.msg ?? '', /not installed.*crds\.upgrade=true/);
  });

  it('goes on when the apiserver does not answer', async () => {
    const recorded = await runCheck(() => {
      throw new KubeApiError({ status: 0, reason: 'Unavailable' }, 'connection refused');
    });
    assert.deepEqual(recorded.outdated, [undefined]);
    assert.equal(recorded.events.length, 0);
  });
});

describe('op_kube_crd_outdated', () => {
  it('is 1 or 0 after the check and absent when the CRD could not be read', async () => {
    const metrics = createOperatorMetrics(() => new Map());
    const sample = async (): Promise<string | undefined> =>
      (await metrics.registry.metrics())
        .split('\n')
        .find((line) => line.startsWith('op_kube_crd_outdated{'));
    assert.equal(await sample(), undefined);
    metrics.crdOutdated(true);
    assert.equal(await sample(), `op_kube_crd_outdated{crd="${ITEM_CRD_NAME}"} 1`);
    metrics.crdOutdated(false);
    assert.equal(await sample(), `op_kube_crd_outdated{crd="${ITEM_CRD_NAME}"} 0`);
    metrics.crdOutdated(undefined);
    assert.equal(await sample(), undefined);
  });
});
