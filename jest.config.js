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
    // Unit specs sit next to their code: in src/, and in test/ for the test tooling (the Helm chart renderer).
    {
      ...common,
      displayName: 'unit',
      roots: ['<rootDir>/src', '<rootDir>/test'],
      testRegex: '\\.spec\\.ts$',
    },
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
