// The table of 1Password's chart values (charts/op-kube/README.md) against its source,
// charts/op-kube/files/onepassword-values.yaml, and that source against the schema and against
// 1Password's values files (test/fixtures/onepassword-charts). Rendering each row with helm is
// test/e2e/chart-onepassword-values.test.ts.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import yaml from 'js-yaml';
import { repoRoot } from '../../tools/cluster/paths.ts';
import {
  CHART_README,
  counts,
  loadOnePasswordValues,
  valuesTable,
  withTable,
} from '../../tools/onepassword-values.ts';

const FIXTURES = join(repoRoot, 'test', 'fixtures', 'onepassword-charts');

/** Leaf names of a values file: non-empty maps are walked, anything else is a value. */
function leaves(value: unknown, prefix = ''): string[] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value);
    if (entries.length > 0) {
      return entries.flatMap(([key, child]) => leaves(child, prefix ? `${prefix}.${key}` : key));
    }
  }
  return [prefix];
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
}

describe("1Password's chart values table", () => {
  it('is the README table, freshly rendered (npm run render:values-table)', async () => {
    const readme = await readFile(CHART_README, 'utf8');
    const fresh = await withTable(readme, valuesTable(await loadOnePasswordValues()));
    assert.ok(readme === fresh, 'charts/op-kube/README.md: run npm run render:values-table');
  });

  it("lists every leaf of 1Password's values files, and the names their templates read besides", async () => {
    const rows = await loadOnePasswordValues();
    const names = new Set(rows.map((row) => row.name));
    const files = ['connect-values.yaml', 'secrets-injector-values.yaml'];
    const fromFiles: string[] = [];
    for (const file of files) {
      fromFiles.push(...leaves(yaml.load(await readFile(join(FIXTURES, file), 'utf8'))));
    }
    assert.equal(fromFiles.length, 185);
    assert.deepEqual(
      fromFiles.filter((name) => !names.has(name)),
      [],
    );
    // Read by 1Password's templates (grep .Values. in charts/*/templates) with no values.yaml entry.
    assert.deepEqual([...names].filter((name) => !fromFiles.includes(name)).sort(), [
      'acceptanceTests.fixtures.itemId',
      'acceptanceTests.fixtures.secretValue',
      'acceptanceTests.fixtures.vaultId',
      'connect.loadBalancerIP',
      'connect.loadBalancerSourceRanges',
      'nameOverride',
      'operator.tls.trust.secret',
    ]);
    assert.deepEqual(counts(rows), { works: 157, refused: 35 });
  });

  it('gets every name past the schema (so the chart, not the schema, answers it)', async () => {
    const schema = JSON.parse(
      await readFile(join(repoRoot, 'charts', 'op-kube', 'values.schema.json'), 'utf8'),
    ) as SchemaNode;
    const blocked: string[] = [];
    for (const row of await loadOnePasswordValues()) {
      let node: SchemaNode | undefined = schema;
      for (const key of row.name.split('.')) {
        if (!node?.properties) break;
        const next: SchemaNode | undefined = node.properties[key];
        if (next === undefined && node.additionalProperties === false) {
          blocked.push(row.name);
          break;
        }
        node = next;
      }
    }
    assert.deepEqual(blocked, []);
  });

  it('refuses with a message naming what to use, and accepts only values it gives the same meaning', async () => {
    for (const row of await loadOnePasswordValues()) {
      if (row.status === 'refused') {
        assert.ok(row.why && row.why.length > 10, `${row.name}: why`);
        assert.ok(!row.expect && !row.absent, `${row.name}: a refused row expects no render`);
      } else {
        assert.ok(
          row.expect ?? row.absent,
          `${row.name}: a working row names what the render shows`,
        );
        assert.equal(row.accept, undefined, `${row.name}: works with any value`);
      }
    }
  });
});
