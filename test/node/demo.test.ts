// `npm run demo -- --node` end to end, on the node `npm test` prepared: the chart's pods Running on
// the node, the Secret's keys, the injected app naming the keys it received, the item edit moving
// the Secret's item-version; no secret value in its output; the release and namespaces removed and
// the node it reused left running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalNode, NODE_COMPONENTS } from '../../tools/cluster/node/node.ts';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { helm, kubectl, testPlane } from '../support/cluster.ts';
import { removeRelease, testNode } from '../support/node.ts';

// Values of examples/connect-local.yaml (the chart's connect-local data); none may be printed.
const SEEDED_VALUES = ['s3cr3t', 'prod-api-key-1', 'staging-password', 'BEGIN CERTIFICATE'];
// The demo's new password is 12 random bytes in hex; connect-local's tokens are JWTs.
const NEW_PASSWORD_SHAPE = /\b[0-9a-f]{24}\b/;
const TOKEN_SHAPE = /eyJ[\w-]{10,}/;

const suffix = `-${randomBytes(3).toString('hex')}`;
const release = `op-kube-demo${suffix}`;
const namespace = `op-kube-demo${suffix}`;
const apps = `op-kube-demo-apps${suffix}`;

function runDemo(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'tools', 'demo', 'run.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, OP_KUBE_DEMO_SUFFIX: suffix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.join('') }));
  });
}

describe('npm run demo -- --node', { timeout: 900_000 }, () => {
  before(async () => {
    await testNode();
  });

  // The demo cleans up after itself; this is for a demo that failed or was killed half-way.
  after(() => {
    removeRelease(release, namespace, apps);
  });

  it('shows the chart running on the node and the injected app naming its keys, prints no value, and removes what it made', async () => {
    const { code, output } = await runDemo(['--node']);
    assert.equal(code, 0, output);

    assert.match(output, /reusing the control plane and worker node op-kube-node/);
    for (const component of ['connect-local', 'operator', 'webhook']) {
      assert.match(
        output,
        new RegExp(
          `^\\s+${release}-${component}-\\S+\\s+1/1\\s+Running\\s+.*\\sop-kube-node\\s`,
          'm',
        ),
        `the ${component} pod is shown Running and Ready on the node`,
      );
    }
    assert.match(output, /helm install to every pod Ready: \d+\.\ds/);
    assert.match(
      output,
      new RegExp(
        `Secret ${apps}/database \\(Opaque\\), written by the in-cluster operator: item-version 1, keys: ca\\.pem, password, port, username, website`,
      ),
    );
    assert.match(output, /init container copy-op-bin: image localhost\/op-kube-test\/op-standin:/);
    assert.match(output, /pod app: Succeeded on the node/);
    assert.match(output, /^\s+received 2 keys: DB_PASSWORD, DB_USER$/m);
    assert.match(output, /^\s+DB_PASSWORD: resolved$/m);
    assert.match(output, /^\s+DB_USER: resolved$/m);
    assert.match(
      output,
      new RegExp(
        `Secret ${apps}/database: operator\\.1password\\.io/item-version 1 -> 2 after .* \\(key password changed`,
      ),
    );
    assert.match(output, /demo complete/);

    for (const value of SEEDED_VALUES) {
      assert.ok(!output.includes(value), `the output shows the value ${JSON.stringify(value)}`);
    }
    assert.doesNotMatch(output, NEW_PASSWORD_SHAPE, 'the output shows the new password');
    assert.doesNotMatch(output, TOKEN_SHAPE, 'the output shows a Connect token');

    // What it made is gone; the node and the plane it reused still run.
    const releases = helm(['list', '-A', '-q']);
    assert.equal(releases.status, 0, releases.stderr);
    assert.ok(!releases.stdout.split('\n').includes(release), `release ${release} left behind`);
    for (const name of [namespace, apps]) {
      const left = kubectl(['get', 'namespace', name, '-o', 'name', '--ignore-not-found']);
      assert.equal(left.stdout.trim(), '', `namespace ${name} was not deleted`);
    }
    const webhooks = kubectl(['get', 'mutatingwebhookconfigurations', '-o', 'name']);
    assert.ok(!webhooks.stdout.includes(release), `the release's webhook configuration was left`);
    const status = await new LocalNode(testPlane().dir, () => {}).status();
    assert.ok(
      NODE_COMPONENTS.every((component) => status[component].running),
      'the node it reused was stopped',
    );
  });
});
