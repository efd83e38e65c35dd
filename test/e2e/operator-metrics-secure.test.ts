// --metrics-secure, on by default as in 1Password's operator: HTTPS with a self-signed certificate,
// and the apiserver decides who reads /metrics (TokenReview, SubjectAccessReview), against the real
// control plane with ServiceAccount tokens.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubectl, testNamespace } from '../support/cluster.ts';
import { dataFile, passwordItem } from '../support/connect-data.ts';
import { startConnectLocal } from '../support/connect-local.ts';
import { startOperator } from '../support/operator.ts';
import { getInsecure } from '../support/https-get.ts';

const DATA = dataFile({ name: 'Production', items: [passwordItem('Database', 'unused')] });

function ok(args: string[]): string {
  const result = kubectl(args);
  assert.equal(result.status, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

describe('operator /metrics secure by default', () => {
  it('serves HTTPS self-signed; 401 without a token, 403 for an account not allowed, 200 once RBAC allows get /metrics', async (t) => {
    const namespace = await testNamespace(t, 'metrics-secure');
    const connect = await startConnectLocal(t, { data: DATA });
    const operator = await startOperator(t, {
      connectUrl: connect.url,
      token: await connect.token({ vaults: ['Production,r'] }),
      namespaces: [namespace],
      // As 1Password's Deployment: no --metrics-secure flag at all (the support passes =false).
      args: ['--metrics-secure=true'],
    });
    const url = `${operator.metricsUrl.replace('http:', 'https:')}/metrics`;

    const anonymous = await getInsecure(url);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.subject, 'op-kube-operator-metrics');
    assert.doesNotMatch(anonymous.body, /op_kube_/);
    await assert.rejects(fetch(operator.metricsUrl + '/metrics'), 'no plain HTTP');

    assert.equal((await getInsecure(url, 'not-a-token')).status, 401);

    ok(['create', 'serviceaccount', 'scraper', '-n', namespace]);
    const token = ok(['create', 'token', 'scraper', '-n', namespace]).trim();
    const denied = await getInsecure(url, token);
    assert.equal(denied.status, 403);
    assert.match(denied.body, new RegExp(`system:serviceaccount:${namespace}:scraper`));

    // 1Password's config/rbac/metrics_reader_role.yaml: nonResourceURLs /metrics, get.
    const role = `${namespace}-metrics-reader`;
    t.after(() => {
      kubectl(['delete', 'clusterrolebinding', role, '--ignore-not-found']);
      kubectl(['delete', 'clusterrole', role, '--ignore-not-found']);
    });
    ok(['create', 'clusterrole', role, '--verb=get', '--non-resource-url=/metrics']);
    ok([
      'create',
      'clusterrolebinding',
      role,
      `--clusterrole=${role}`,
      `--serviceaccount=${namespace}:scraper`,
    ]);
    // A denial is remembered 30 s (controller-runtime's cache); wait it out.
    const deadline = Date.now() + 60_000;
    let allowed = await getInsecure(url, token);
    while (allowed.status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      allowed = await getInsecure(url, token);
    }
    assert.equal(allowed.status, 200);
    assert.match(allowed.body, /^# TYPE op_kube_polls_total counter$/m);
    for (const answer of [anonymous, denied, allowed]) assert.ok(!answer.body.includes(token));
    assert.ok(!operator.logs().includes(token), 'the token is never logged');
  });
});
