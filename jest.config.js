/** @type {import('jest').Config} */
module.exports = {
  // Node, with a private OS temp dir per test file that must be empty when the file is done.
  testEnvironment: '<rootDir>/test/helpers/temp-dir-environment.js',
  // With CI set: the run must leave no new `sessionware*` entries in the real OS temp dir either.
  globalSetup: '<rootDir>/test/helpers/global-setup.js',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  moduleNameMapper: {
    '^sessionware$': '<rootDir>/lib/index.ts',
    '^sessionware/redis$': '<rootDir>/lib/redis.ts',
    '^sessionware/memcache$': '<rootDir>/lib/memcache.ts',
    '^sessionware/express-session-store$': '<rootDir>/lib/express-session-store.ts',
    '^sessionware/postgres$': '<rootDir>/lib/postgres.ts',
    '^sessionware/mysql$': '<rootDir>/lib/mysql.ts',
    '^sessionware/express-session$': '<rootDir>/lib/express-session.ts',
    '^sessionware/testing$': '<rootDir>/lib/testing.ts',
  },
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  // Real servers, real files and child processes: give slow machines room.
  testTimeout: 30000,
};
