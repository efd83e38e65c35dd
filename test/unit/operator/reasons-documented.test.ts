// Every Ready reason the operator can set is explained where users look: the README's troubleshooting
// table and the CRD's description (both copies).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { READY_REASONS } from '../../../src/operator/failure.ts';
import { repoRoot } from '../../../tools/cluster/paths.ts';

const read = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');

describe('Ready reasons are documented', () => {
  const readme = read('README.md');
  const troubleshooting = readme.slice(readme.indexOf('## Troubleshooting'));
  const crds = [
    'crds/onepassword.com_onepassworditems.yaml',
    'charts/op-kube/crds/onepassword.com_onepassworditems.yaml',
  ];

  for (const reason of READY_REASONS) {
    it(reason, () => {
      if (reason !== 'Synced') {
        assert.match(
          troubleshooting,
          new RegExp(`^\\| \`${reason}\` +\\|`, 'm'),
          'README troubleshooting row',
        );
      }
      for (const crd of crds) assert.match(read(crd), new RegExp(`\\b${reason}\\b`), crd);
    });
  }
});
