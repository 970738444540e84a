import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './config.schema.js';

describe('loadConfig', () => {
  it('runs on this machine with no variables set', () => {
    const config = loadConfig({});
    assert.equal(config.http.port, 3000);
    assert.equal(config.redis.url, 'redis://127.0.0.1:6379');
    assert.equal(config.database.url, 'postgres://postgres@127.0.0.1:5432/specimen');
    assert.match(config.storage.url, /^file:\/\/\/.+\/var\/objects$/);
    assert.equal(config.limits.uploadMaxBytes, 512 * 1024 * 1024);
    assert.equal(config.auth.adminToken, undefined);
  });

  it('lists every bad variable at once', () => {
    assert.throws(
      () =>
        loadConfig({
          PORT: 'eighty',
          REDIS_URL: 'http://x',
          SPECIMEN_ADMIN_TOKEN: 'short',
          UPLOAD_MAX_BYTES: '-1',
        }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        const keys = e.problems.map((p) => p.split(':')[0]).sort();
        assert.deepEqual(keys, ['PORT', 'REDIS_URL', 'SPECIMEN_ADMIN_TOKEN', 'UPLOAD_MAX_BYTES']);
        assert.match(e.message, /PORT/);
        return true;
      },
    );
  });

  it('holds 32 scan jobs per concurrent scan unless SCAN_JOBS_IN_FLIGHT says otherwise, never fewer than scans', () => {
    assert.equal(loadConfig({ SCAN_CONCURRENCY: '3' }).scanner.jobsInFlight, 96);
    assert.equal(loadConfig({ SCAN_CONCURRENCY: '3', SCAN_JOBS_IN_FLIGHT: '50' }).scanner.jobsInFlight, 50);
    assert.equal(loadConfig({ SCAN_CONCURRENCY: '3', SCAN_JOBS_IN_FLIGHT: '1' }).scanner.jobsInFlight, 3);
    assert.throws(() => loadConfig({ SCAN_JOBS_IN_FLIGHT: '0' }), /SCAN_JOBS_IN_FLIGHT/);
  });

  it('hands the thread pool one scan ahead per concurrent scan unless SCAN_PREFETCH says otherwise', () => {
    assert.equal(loadConfig({ SCAN_CONCURRENCY: '3' }).scanner.prefetch, 3);
    assert.equal(loadConfig({ SCAN_CONCURRENCY: '3', SCAN_PREFETCH: '0' }).scanner.prefetch, 0);
    assert.throws(() => loadConfig({ SCAN_PREFETCH: '-1' }), /SCAN_PREFETCH/);
    // More threads than scans: a scan handed over would run at once on a spare thread.
    assert.equal(loadConfig({ SCAN_CONCURRENCY: '2', SCANNER_THREADS: '4' }).scanner.prefetch, 0);
    assert.equal(
      loadConfig({ SCAN_CONCURRENCY: '2', SCANNER_THREADS: '4', SCAN_PREFETCH: '2' }).scanner.prefetch,
      0,
    );
    assert.equal(loadConfig({ SCAN_CONCURRENCY: '4', SCANNER_THREADS: '2' }).scanner.prefetch, 4);
  });

  it('sizes the scanner thread pool from SCANNER_THREADS, else from SCAN_CONCURRENCY', () => {
    assert.equal(loadConfig({ SCAN_CONCURRENCY: '3' }).scanner.threads, 3);
    assert.equal(loadConfig({ SCAN_CONCURRENCY: '3', SCANNER_THREADS: '8' }).scanner.threads, 8);
    const defaults = loadConfig({}).scanner;
    assert.equal(defaults.retrohuntConcurrency, 1);
    assert.equal(defaults.retrohuntBatchSize, 100);
    assert.equal(defaults.retroscanCheckEveryMs, 60_000);
    assert.throws(() => loadConfig({ SCANNER_THREADS: '0' }), /SCANNER_THREADS/);
  });

  it('rejects inconsistent verdict thresholds', () => {
    assert.throws(
      () => loadConfig({ VERDICT_SUSPICIOUS_SCORE: '90', VERDICT_MALICIOUS_SCORE: '50' }),
      /VERDICT_SUSPICIOUS_SCORE/,
    );
  });

  it('requires PSEUDONYM_KEY in production only, and defaults the ZIP password', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /PSEUDONYM_KEY/);
    const production = loadConfig({ NODE_ENV: 'production', PSEUDONYM_KEY: 'k'.repeat(32) });
    assert.equal(production.auth.pseudonymKey, 'k'.repeat(32));
    const development = loadConfig({});
    assert.ok(development.auth.pseudonymKey.length >= 32);
    assert.equal(development.download.zipPassword, 'infected');
    assert.equal(loadConfig({ DOWNLOAD_ZIP_PASSWORD: 'virus' }).download.zipPassword, 'virus');
  });

  it('defaults the observability settings and checks the metrics token length', () => {
    assert.deepEqual(loadConfig({}).observability, {
      scannerHttpPort: 3001,
      metricsToken: undefined,
      healthCheckTimeoutMs: 2000,
      queueStatsCacheMs: 5000,
    });
    assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN/);
    assert.equal(loadConfig({ METRICS_TOKEN: 'm'.repeat(16) }).observability.metricsToken, 'm'.repeat(16));
  });
});
