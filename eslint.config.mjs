// Lint keeps the dependency picture of docs/ARCHITECTURE.md true:
//   apps → workflows / activities → libs, libs never upward, workflows free of Node APIs.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default [
  { ignores: ['**/node_modules/**', '.nx/**', '.ntk/**', '.bin/**', 'dist/**', 'bench/.venv/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:app', 'type:workflows', 'type:activities', 'type:lib'] },
            { sourceTag: 'type:activities', onlyDependOnLibsWithTags: ['type:lib'] },
            // Workflows see activities and libs only through `import type` (enforced below and by the bundler).
            { sourceTag: 'type:workflows', onlyDependOnLibsWithTags: ['type:activities', 'type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'layer:pure', onlyDependOnLibsWithTags: ['layer:pure'] },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'workflow code must be deterministic: no Node APIs (do IO in an activity)' })),
          patterns: [
            {
              group: ['@ntk/*'],
              allowTypeImports: true,
              message: 'workflows may import other ntk packages only with `import type`',
            },
          ],
        },
      ],
    },
  },
];
