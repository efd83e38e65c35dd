// Unit tests for loadDataFile's file paths as a ConfigMap volume lays them out (links into `..<time>`).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataFileError, loadDataFile } from '../../../src/connect-local/data-file.ts';

const DATA = `vaults:
  - name: Production
    items:
      - title: database
        files:
          - { name: ca.pem, path: files/ca.pem }
`;

describe('loadDataFile file paths', () => {
  it("reads files through a ConfigMap volume's links, and still refuses ones leading outside", async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'op-kube-data-file-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const mount = join(root, 'mount');
    const stamped = join(mount, '..2026_11_22_17_00_00.123456789');
    await mkdir(join(stamped, 'files'), { recursive: true });
    await writeFile(join(stamped, 'connect-local.yaml'), DATA);
    await writeFile(join(stamped, 'files', 'ca.pem'), 'PEM');
    await symlink('..2026_11_22_17_00_00.123456789', join(mount, '..data'));
    await symlink('..data/connect-local.yaml', join(mount, 'connect-local.yaml'));
    await symlink('..data/files', join(mount, 'files'));
    const seeds = await loadDataFile(join(mount, 'connect-local.yaml'));
    assert.equal(seeds[0]?.items[0]?.files?.[0]?.name, 'ca.pem');

    await writeFile(join(root, 'outside.pem'), 'PEM');
    await symlink('../../../outside.pem', join(stamped, 'files', 'escape.pem'));
    await writeFile(
      join(stamped, 'connect-local.yaml'),
      DATA.replace('files/ca.pem', 'files/escape.pem'),
    );
    await assert.rejects(
      loadDataFile(join(mount, 'connect-local.yaml')),
      (error: unknown) =>
        error instanceof DataFileError && /leaves the data file/.test(error.message),
    );
  });
});
