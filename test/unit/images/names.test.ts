// Naming rules of tools/images: content hashes, normalised references, the Dockerfile's context inputs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../../tools/cluster/paths.ts';
import {
  contentHash,
  contextSources,
  dockerignoreExclusions,
  normalizedReference,
} from '../../../tools/images/names.ts';

test('contentHash ignores input order and tells labels and contents apart', () => {
  const a = { label: 'a', content: 'x' };
  const b = { label: 'b', content: 'y' };
  assert.equal(contentHash([a, b]), contentHash([b, a]));
  assert.notEqual(
    contentHash([a, b]),
    contentHash([
      { label: 'a', content: 'y' },
      { label: 'b', content: 'x' },
    ]),
  );
  // Length prefixes: moving bytes between label and content changes the hash.
  assert.notEqual(
    contentHash([{ label: 'ab', content: 'c' }]),
    contentHash([{ label: 'a', content: 'bc' }]),
  );
  assert.equal(
    contentHash([{ label: 'f', content: 'z' }]),
    contentHash([{ label: 'f', content: Buffer.from('z') }]),
  );
});

test('normalizedReference follows the names a kubelet asks containerd for', () => {
  const cases: [string, string][] = [
    ['op-kube:0.1.0', 'docker.io/library/op-kube:0.1.0'],
    ['op-kube', 'docker.io/library/op-kube:latest'],
    ['1password/op:2', 'docker.io/1password/op:2'],
    ['ghcr.io/op-kube/op-kube:0.1.0', 'ghcr.io/op-kube/op-kube:0.1.0'],
    ['localhost/op-kube-test/op-standin:abc', 'localhost/op-kube-test/op-standin:abc'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['registry.local/a@sha256:00', 'registry.local/a@sha256:00'],
  ];
  for (const [input, expected] of cases) assert.equal(normalizedReference(input), expected, input);
});

test('contextSources lists what COPY and ADD read from the context, not from other stages', () => {
  const dockerfile = [
    'FROM x AS build',
    'COPY package.json package-lock.json ./',
    'COPY --chown=1:1 \\',
    '  src/ src/',
    'COPY --from=build /app/dist/ dist/',
    'ADD ./bin/ bin/',
    'RUN echo COPY nothing here',
  ].join('\n');
  assert.deepEqual(contextSources(dockerfile), [
    'bin/',
    'package-lock.json',
    'package.json',
    'src/',
  ]);
});

test("the project's Dockerfile copies its lockfile, sources and CRDs", () => {
  const sources = contextSources(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
  for (const expected of ['package-lock.json', 'src/', 'bin/', 'crds/'])
    assert.ok(sources.includes(expected), expected);
});

test('dockerignoreExclusions keeps only exclusion globs', () => {
  assert.deepEqual(dockerignoreExclusions('# c\n**\n!src/\nsrc/**/*.test.ts\n\n'), [
    'src/**/*.test.ts',
  ]);
});
