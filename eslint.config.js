// Lint rules: typescript-eslint's type-aware recommended set, with `any` banned at module boundaries.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// src/operator, src/webhook, src/connect and src/connect-local share plumbing through src/kube and
// may use each other only through the other's index.ts, never its internals.
const components = ['operator', 'webhook', 'connect', 'connect-local'];
// Components that may not use another at all, not even through its index.ts: the Connect
// protocol and client sit below the server that implements them.
const below = { connect: ['connect-local'] };
const boundaries = components.map((component) => ({
  files: [`src/${component}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: components
          .filter((other) => other !== component)
          .map((other) =>
            below[component]?.includes(other)
              ? {
                  group: [`**/${other}/**`],
                  message: `src/${component} sits below src/${other} and may not import it`,
                }
              : {
                  group: [`**/${other}/**`, `!**/${other}/index.ts`],
                  message: `import ${other} through src/${other}/index.ts, or move shared code to src/kube`,
                },
          ),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.cluster/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe/it return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'no-console': 'off',
    },
  },
  ...boundaries,
  {
    // @kubernetes/client-node is a dev dependency, absent from the image: src may use its types only.
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@kubernetes/client-node',
              allowTypeImports: true,
              message: 'a dev dependency, not in the image: import its types only (import type)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', URL: 'readonly' },
    },
  },
);
