/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  moduleNameMapper: {
    '^sessionware$': '<rootDir>/lib/index.ts',
    '^sessionware/redis$': '<rootDir>/lib/redis.ts',
    '^sessionware/postgres$': '<rootDir>/lib/postgres.ts',
    '^sessionware/mysql$': '<rootDir>/lib/mysql.ts',
    '^sessionware/testing$': '<rootDir>/lib/testing.ts',
  },
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  // Real servers, real files and child processes: give slow machines room.
  testTimeout: 30000,
};
