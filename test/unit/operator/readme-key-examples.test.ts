// The README's spec.keys examples ("Choosing, renaming and templating keys"), taken from the README
// itself and run through the same pure mapping the operator uses, so the documentation cannot drift
// from what op-kube does: each renders, with the values escaped as the README says.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import yaml from 'js-yaml';
import type { FullItem } from '../../../src/connect/index.ts';
import { selectSecretData, type KeysSpec } from '../../../src/operator/secret-keys.ts';
import { repoRoot } from '../../../tools/cluster/paths.ts';

interface Example {
  type?: string;
  spec: KeysSpec & { itemPath: string };
}

function examples(): Example[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('### Choosing, renaming and templating keys');
  const section = readme.slice(start, readme.indexOf('\n### ', start + 1));
  assert.ok(start >= 0, 'the README has the section');
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map(
    (block) => yaml.load(block[1] ?? '') as Example,
  );
}

// A login with characters that need each escape: URL (@ : /), JSON (" \) and base64.
const item: FullItem = {
  id: 'item-id',
  title: 'postgres',
  vault: { id: 'vault-id' },
  category: 'DATABASE',
  version: 1,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  fields: [
    { id: 'u', type: 'STRING', label: 'username', value: 'app@team' },
    { id: 'p', type: 'CONCEALED', label: 'password', value: 'p:a/s"s\\w' },
    { id: 's', type: 'STRING', label: 'server', value: 'db.example' },
    { id: 'o', type: 'STRING', label: 'port', value: '5432' },
    { id: 'd', type: 'STRING', label: 'database', value: 'orders' },
  ],
};

function render(example: Example): Map<string, string> {
  const { data } = selectSecretData(item, new Map(), example.spec, {
    allowEmptyValues: false,
    ...(example.type ? { secretType: example.type } : {}),
  });
  return new Map([...data].map(([key, value]) => [key, value.toString('utf8')]));
}

describe("the README's spec.keys examples", () => {
  const [url, env, docker] = examples();

  it('are three: a Postgres URL, an .env file, a dockerconfigjson Secret', () => {
    assert.equal(examples().length, 3);
  });

  it('the Postgres URL: user and password URL-escaped, password also renamed', () => {
    assert.ok(url);
    const data = render(url);
    assert.deepEqual([...data.keys()].sort(), ['DATABASE_URL', 'PGPASSWORD']);
    assert.equal(data.get('PGPASSWORD'), 'p:a/s"s\\w');
    const parsed = new URL(data.get('DATABASE_URL') ?? '');
    assert.equal(decodeURIComponent(parsed.username), 'app@team');
    assert.equal(decodeURIComponent(parsed.password), 'p:a/s"s\\w');
    assert.equal(parsed.host, 'db.example:5432');
    assert.equal(parsed.pathname, '/orders');
  });

  it('the .env file: one line per variable, values as they are', () => {
    assert.ok(env);
    const data = render(env);
    assert.equal(
      data.get('.env'),
      'PGHOST=db.example\nPGPORT=5432\nPGUSER=app@team\nPGPASSWORD=p:a/s"s\\w\n',
    );
  });

  it('the dockerconfigjson: valid JSON whose auth is base64 of user:password', () => {
    assert.ok(docker);
    assert.equal(docker.type, 'kubernetes.io/dockerconfigjson');
    const config = JSON.parse(render(docker).get('.dockerconfigjson') ?? '') as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };
    const entry = config.auths['db.example'];
    assert.equal(entry?.username, 'app@team');
    assert.equal(entry?.password, 'p:a/s"s\\w');
    assert.equal(Buffer.from(entry?.auth ?? '', 'base64').toString(), 'app@team:p:a/s"s\\w');
  });
});
