// Runs every compiled test file with Node's test runner and ends with one line "N passed, N failed"
// (counted by scripts/summary-reporter.js), so CI can tell a run that executed no test.
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const args = process.argv.slice(2);
const files =
  args.length > 0
    ? args
    : globSync([
        'dist/libs/*/src/**/*.spec.js',
        'dist/apps/*/src/**/*.spec.js',
        'dist/test/**/*.e2e.js',
        // The console's specs, compiled by apps/console/tsconfig.json (JSX, DOM types) beside the rest.
        'dist/console-node/apps/console/src/**/*.spec.js',
      ]).sort();
if (files.length === 0) {
  console.error('no compiled test files found: run "npm run build" first');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=2',
    '--test-timeout=600000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=./scripts/summary-reporter.js',
    '--test-reporter-destination=stdout',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
