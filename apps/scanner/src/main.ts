import { ConfigError, loadConfig, unsupportedNode } from '#config';

// Scans run on libuv's thread pool, shared with fs and crypto work. Size it before anything uses it
// (the pool starts on first use): SCANNER_THREADS, by default one thread per concurrent scan. Measured:
// with the default 4 threads and 2 scans in flight, scans ran at ~0.85 of the yara CLI; sized, at ~1.0.
const wrongNode = unsupportedNode(process.versions.node);
if (wrongNode !== null) {
  console.error(wrongNode);
  process.exit(1);
}
try {
  const config = loadConfig();
  process.env.UV_THREADPOOL_SIZE = String(config.scanner.threads);
} catch (e) {
  console.error(e instanceof ConfigError ? e.message : e);
  process.exit(1);
}
await import('./scanner.bootstrap.js');
