// Two projects: unit (pure code, no I/O, seconds) and e2e (the real local stack, started or
// reused by the global setup). `npm test` runs both.
const transform = { '^.+\\.ts$': ['ts-jest', { useESM: true }] }
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform,
  testEnvironment: 'node'
}
export default {
  // Global, not per project: jest ignores testTimeout inside a project (e2e waits are bounded
  // by their own deadlines anyway).
  testTimeout: 300000,
  reporters: ['default', '<rootDir>/__tests__/count-reporter.cjs'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/__tests__/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/__tests__/e2e/setup.ts'
    }
  ]
}
