/** @type {import('jest').Config} */
// Tests are transpiled only (fast); `npm run typecheck` type-checks everything, tests included.
const common = {
  testEnvironment: 'node',
  rootDir: '.',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['reflect-metadata'],
};

module.exports = {
  projects: [
    { ...common, displayName: 'unit', roots: ['<rootDir>/src'], testRegex: '\\.spec\\.ts$' },
    // Checks of the repository beside the code (the dependency tree, the Helm chart) and of the test tooling.
    { ...common, displayName: 'repo', roots: ['<rootDir>/test'], testRegex: '\\.spec\\.ts$' },
    {
      ...common,
      displayName: 'e2e',
      roots: ['<rootDir>/test'],
      testRegex: '\\.e2e-spec\\.ts$',
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      testTimeout: 20000,
    },
  ],
};
