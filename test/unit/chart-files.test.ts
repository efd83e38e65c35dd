// Packaging files that need no helm binary: the chart's metadata and defaults against package.json
// and src/, its CRD copy, and the image's Dockerfile.
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import yaml from 'js-yaml';
import { OPERATOR_NODE_FLAGS, WEBHOOK_NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { repoRoot } from '../../tools/cluster/paths.ts';

const chartDir = join(repoRoot, 'charts', 'op-kube');
// Where a release publishes the image and the chart (README, .github/workflows/release.yml).
const PUBLISHED_IMAGE = 'ghcr.io/op-kube/op-kube';
const PUBLISHED_CHART = 'oci://ghcr.io/op-kube/charts';

async function loadYaml<T>(path: string): Promise<T> {
  return yaml.load(await readFile(path, 'utf8')) as T;
}

describe('chart files', () => {
  it('has the package version as appVersion', async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    const chart = await loadYaml<{ apiVersion: string; appVersion: string }>(
      join(chartDir, 'Chart.yaml'),
    );
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.appVersion, pkg.version);
  });

  it('defaults each component to the Node flags src/cli/node-flags.ts lists', async () => {
    const values = await loadYaml<{
      operator: { nodeFlags: string[] };
      injector: { nodeFlags: string[] };
    }>(join(chartDir, 'values.yaml'));
    assert.deepEqual(values.operator.nodeFlags, OPERATOR_NODE_FLAGS);
    assert.deepEqual(values.injector.nodeFlags, WEBHOOK_NODE_FLAGS);
  });

  it('defaults every op-kube component to the published image at the chart appVersion', async () => {
    type Image = { repository: string; tag: string; digest: string; pullPolicy: string };
    const values = await loadYaml<Record<string, { image: Image }>>(join(chartDir, 'values.yaml'));
    for (const component of ['operator', 'injector', 'connectLocal']) {
      // The path .github/workflows/release.yml pushes to; an empty tag means the appVersion.
      assert.deepEqual(
        values[component]?.image,
        { repository: PUBLISHED_IMAGE, tag: '', digest: '', pullPolicy: 'IfNotPresent' },
        component,
      );
    }
    const workflow = await readFile(join(repoRoot, '.github', 'workflows', 'release.yml'), 'utf8');
    assert.ok(workflow.includes(PUBLISHED_IMAGE), 'the release workflow pushes the image');
    assert.ok(workflow.includes(PUBLISHED_CHART), 'the release workflow pushes the chart');
  });

  it('validates values.yaml against values.schema.json at every object level', async () => {
    const schema = JSON.parse(await readFile(join(chartDir, 'values.schema.json'), 'utf8')) as {
      properties: Record<string, unknown>;
    };
    const values = await loadYaml<Record<string, unknown>>(join(chartDir, 'values.yaml'));
    // Every value has a schema entry, and every closed object's keys are all described.
    const check = (node: unknown, value: unknown, path: string): void => {
      const described = node as {
        type?: string;
        additionalProperties?: unknown;
        properties?: Record<string, unknown>;
      };
      if (described.type !== 'object' || !described.properties) return;
      assert.equal(described.additionalProperties, false, `${path || '(root)'} is closed`);
      for (const [key, child] of Object.entries((value ?? {}) as Record<string, unknown>)) {
        const sub = described.properties[key];
        assert.ok(sub, `${path}${key} has a schema entry`);
        check(sub, child, `${path}${key}.`);
      }
    };
    check(schema, values, '');
  });

  it("defaults the operator to --metrics-secure, with value names 1Password's charts do not use", async () => {
    const values = await loadYaml<Record<string, unknown>>(join(chartDir, 'values.yaml'));
    const leaves = (node: unknown, path: string): string[] =>
      node !== null && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length
        ? Object.entries(node).flatMap(([key, child]) => leaves(child, `${path}${key}.`))
        : [path.slice(0, -1)];
    const ours = leaves(values, '');
    const theirs = await loadYaml<{ name: string; status: string; op?: string }[]>(
      join(chartDir, 'files', 'onepassword-values.yaml'),
    );
    const overlap = (a: string, b: string): boolean =>
      a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
    // 1Password's charts have no value of these names: they mean only what op-kube says.
    for (const name of ['operator.metricsSecure', 'serviceMonitor.tokenSecret.name']) {
      assert.ok(ours.includes(name), `${name} is in values.yaml`);
      const clash = theirs.filter((row) => overlap(row.name, name));
      assert.deepEqual(clash, [], `${name} is one of 1Password's value names`);
    }
    const operator = values.operator as { metricsSecure: unknown };
    assert.equal(operator.metricsSecure, true, "1Password's operator default");
    // And every op-kube value that is also one of 1Password's names keeps 1Password's meaning.
    for (const name of ours) {
      for (const row of theirs.filter((item) => overlap(item.name, name))) {
        assert.equal(row.status, 'works', `${row.name} (op-kube's ${name}) is refused`);
        assert.ok(
          row.op && overlap(row.op, name),
          `${row.name} means ${row.op ?? '?'}, not ${name}`,
        );
      }
    }
  });

  it('carries the same CRDs as crds/', async () => {
    const names = (await readdir(join(repoRoot, 'crds'))).sort();
    assert.deepEqual((await readdir(join(chartDir, 'crds'))).sort(), names);
    for (const name of names) {
      assert.equal(
        await readFile(join(chartDir, 'crds', name), 'utf8'),
        await readFile(join(repoRoot, 'crds', name), 'utf8'),
        `charts/op-kube/crds/${name} differs from crds/${name}`,
      );
    }
  });

  it('carries the same connect-local data file and files as examples/', async () => {
    const copy = join(chartDir, 'files', 'connect-local');
    assert.equal(
      await readFile(join(copy, 'connect-local.yaml'), 'utf8'),
      await readFile(join(repoRoot, 'examples', 'connect-local.yaml'), 'utf8'),
      'charts/op-kube/files/connect-local/connect-local.yaml differs from examples/connect-local.yaml',
    );
    const names = (await readdir(join(repoRoot, 'examples', 'files'))).sort();
    assert.deepEqual((await readdir(join(copy, 'files'))).sort(), names);
    for (const name of names) {
      assert.equal(
        await readFile(join(copy, 'files', name), 'utf8'),
        await readFile(join(repoRoot, 'examples', 'files', name), 'utf8'),
        `charts/op-kube/files/connect-local/files/${name} differs from examples/files/${name}`,
      );
    }
  });

  it('builds an image that runs as a numeric non-root user from dist/', async () => {
    const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    assert.equal(stages.length, 3, 'build, deps and runtime stages');
    const runtime = stages.at(-1) ?? '';
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-(alpine|slim)$/m);
    assert.match(runtime, /^USER 65532(:65532)?$/m);
    assert.match(runtime, /^ENTRYPOINT \["node", "\/app\/bin\/op-kube\.js"\]$/m);
    assert.match(runtime, /^ENV [^]*HOME=\/tmp/m);
    assert.doesNotMatch(runtime, /COPY (--from=\w+ )?(\/app\/)?src\//, 'no sources at run time');
    assert.match(stages[1] ?? '', /npm ci --omit=dev/);
    const ignore = await readFile(join(repoRoot, '.dockerignore'), 'utf8');
    assert.match(ignore, /^\*\*$/m, '.dockerignore starts from nothing');
  });
});
