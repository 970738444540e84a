import 'reflect-metadata';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger, PinoLogger } from 'nestjs-pino';
import { ConfigError, loadConfig, projectRoot, unsupportedNode } from '#config';
import { SpecimenMetrics } from '#observability';
import { ApiModule } from './app.module.js';
import { consoleHandler } from './console/console.static.js';
import { httpMetrics } from './http/http-metrics.js';
import { jsonBodyDeadline } from './http/body-deadline.js';
import { SMALL_JSON_LIMIT_BYTES, smallJsonType } from './http/large-json.js';
import { requestLog } from './http/request-log.js';

/** A connection on which no byte moves, in or out, for this long is closed. */
const IDLE_TIMEOUT_MS = 120_000;

async function main(): Promise<void> {
  const wrongNode = unsupportedNode(process.versions.node);
  if (wrongNode !== null) {
    console.error(wrongNode);
    process.exit(1);
  }
  const config = loadConfig();
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), {
    bufferLogs: true,
    // Only the JSON parser below: no route takes a form, so Nest's default urlencoded parser would only
    // turn a JSON body sent without its Content-Type into a confusing object (JsonBody answers 415).
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  const server: Server = app.getHttpServer();
  // Node ends a request that has not fully arrived in 5 minutes (requestTimeout) with a bare 408, and a
  // tus chunk cut short is discarded: on a slow link an upload chunk that needs longer could never
  // complete, and a multipart upload neither. A connection is ended instead when no byte moves for
  // IDLE_TIMEOUT_MS either way; the headers still have their 60 s (headersTimeout).
  server.requestTimeout = 0;
  server.setTimeout(IDLE_TIMEOUT_MS);
  app.disable('x-powered-by');
  // No ETag on API answers: express would hash every body (sha1 of each search page, ~2.5% of the API's
  // CPU per search in a perf profile) for a conditional GET no API client makes; the console's assets
  // are served by consoleHandler with their own caching headers.
  app.set('etag', false);
  // Before the routes (registered at listen), so every request is timed, refused ones included.
  app.use(httpMetrics(app.get(SpecimenMetrics)));
  app.use(requestLog(await app.resolve(PinoLogger)));
  // The analyst console (built by `npm run build` into dist/console), same origin as the API.
  const consoleDir = join(projectRoot(), 'dist', 'console');
  const console_ = consoleHandler(consoleDir);
  if (console_ === null) app.get(Logger).warn(`no console build in ${consoleDir}: / is not served`);
  else app.use(console_);
  // Small JSON bodies everywhere but on the rule-source routes, which parse theirs after authentication,
  // each within its deadline.
  app.use(jsonBodyDeadline(config.limits.jsonBodyTimeoutMs));
  app.useBodyParser('json', { limit: SMALL_JSON_LIMIT_BYTES, type: smallJsonType });
  app.enableShutdownHooks();
  await app.listen(config.http.port, config.http.host);
  app.get(Logger).log(`api listening on http://${config.http.host}:${config.http.port}`);
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError) {
    console.error(e.message);
  } else {
    console.error('api failed to start:', e);
  }
  process.exit(1);
});
