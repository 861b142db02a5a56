// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';

/**
 * The dependency order of src/, bottom-up (docs/ARCHITECTURE.md): a folder may import its own layer's folders and
 * the layers below, never one above. Each entry is one layer.
 */
const LAYERS = [
  ['contract'], // the stream contract: events, requests, errors, principals, topics; imports nothing of the app
  ['common'], // logging, errors' wire shapes, net, small utilities
  ['config'],
  ['redis', 'analytics', 'lifecycle', 'cluster'], // cluster: node:cluster workers, their metrics
  ['events'], // the Redis-backed event bus
  ['providers'],
  ['routing'],
  ['sanitization', 'auth'],
  ['dead-letter'],
  ['streaming'],
  ['system'], // system events, fed by routing and dead letters
  ['workflow'],
  ['http', 'ws', 'graphql', 'admin', 'health'], // the protocol edges
];
/** One zone per folder: importing any folder of a higher layer, or the app's root files, is refused. */
const LAYER_ZONES = LAYERS.flatMap((layer, i) => {
  const above = LAYERS.slice(i + 1).flat();
  return layer.flatMap((folder) => [
    {
      target: `./src/${folder}`,
      from: above.map((f) => `./src/${f}`),
      message: `src/${folder} sits below ${above.join(', ')}: imports point down (docs/ARCHITECTURE.md).`,
    },
    {
      target: `./src/${folder}`,
      from: ['./src/*.ts'],
      message: `src/${folder} sits below the app's root files: imports point down (docs/ARCHITECTURE.md).`,
    },
  ]);
}).filter((zone) => zone.from.length > 0);

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'helm/**', 'eslint.config.mjs', 'jest.config.js'],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read configuration through AppConfig (src/config) only.',
        },
      ],
    },
  },
  {
    // Import boundaries: layers (above) and no cycles, in src/. src never imports test/.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            ...LAYER_ZONES,
            {
              target: './src',
              from: './test',
              message: 'src never imports test/ (test support lives in src/**/testing).',
            },
          ],
        },
      ],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['src/config/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['scripts/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
);
