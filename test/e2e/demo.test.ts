// `npm run demo` end to end, against the plane `npm test` started: it must reuse that plane and
// leave it running, show what the README promises, print no secret value, and clean up after itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../../tools/cluster/paths.ts';
import { COMPONENTS } from '../../tools/cluster/plane.ts';
import { kubectl, testPlane } from '../support/cluster.ts';

// Values of the items the demo uses (examples/connect-local.yaml), the file it syncs, and the
// password the demo sets; none may appear in its output.
const SECRET_VALUES = [
  's3cr3t',
  'n3w-s3cr3t',
  'prod-api-key-1',
  'staging-password',
  'BEGIN CERTIFICATE',
  'MIIBexample',
];

function runDemo(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'tools', 'demo', 'run.ts')], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.join('') }));
  });
}

describe('npm run demo', { timeout: 240_000 }, () => {
  it('runs the whole system on the test plane, prints no value, and removes what it made', async () => {
    const plane = testPlane();
    const suffix = `-${randomBytes(3).toString('hex')}`;
    const { code, output } = await runDemo({ ...process.env, OP_KUBE_DEMO_SUFFIX: suffix });
    assert.equal(code, 0, output);

    assert.match(output, /reusing the control plane/);
    assert.match(output, /Secret op-kube-demo\S*\/database .*keys: .*password.*username/);
    assert.match(output, /Secret op-kube-demo\S*\/api-key .*keys: credential/);
    // spec.keys: only the chosen keys, one composed by a template.
    assert.match(output, /Secret op-kube-demo\S*\/database-url .*keys: DATABASE_URL, PGPASSWORD$/m);
    // --token-source=namespace: team B's token reaches Staging only.
    assert.match(output, /op-kube-demo-team-b\S*\/staging-database: Ready=True \(Synced\)/);
    assert.match(
      output,
      /op-kube-demo-team-b\S*\/production-database: Ready=False \(VaultNotFound\)/,
    );
    assert.match(output, /OnePasswordItem op-kube-demo\S*\/database: Ready=True \(Synced\)/);
    assert.match(output, /container app: command \/op\/bin\/op run -- \/bin\/app serve/);
    assert.match(output, /init container copy-op-bin: image 1password\/op:2/);
    assert.match(output, /item-version 1 -> 2 .*key password changed/);
    assert.match(output, /OnePasswordItem op-kube-demo\S*\/database: Ready=True, itemVersion 2/);
    for (const value of SECRET_VALUES) {
      assert.ok(!output.includes(value), `the output shows the value ${JSON.stringify(value)}`);
    }

    // The plane it reused still runs; its namespaces and webhook configuration are gone.
    const status = await plane.status();
    assert.ok(
      COMPONENTS.every((component) => status[component].running),
      'the plane was stopped',
    );
    for (const namespace of [
      `op-kube-demo${suffix}`,
      `op-kube-demo-apps${suffix}`,
      `op-kube-demo-team-b${suffix}`,
    ]) {
      const left = kubectl(['get', 'namespace', namespace, '-o', 'name', '--ignore-not-found']);
      assert.equal(left.stdout.trim(), '', `namespace ${namespace} was not deleted`);
    }
    const config = kubectl([
      'get',
      'mutatingwebhookconfiguration',
      `op-kube-webhook-demo${suffix}`,
      '-o',
      'name',
      '--ignore-not-found',
    ]);
    assert.equal(config.stdout.trim(), '', 'the webhook configuration was left behind');
  });
});
