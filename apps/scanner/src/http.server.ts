import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { Database } from '#database';
import { SpecimenMetrics, checkReadiness, metricsAuthorized } from '#observability';
import { QueueProducer } from '#queue';
import { OBJECT_STORE, type ObjectStore } from '#storage';

/**
 * The scanner's only HTTP: `/health/live`, `/health/ready` and `/metrics` on SCANNER_HTTP_PORT (bound to
 * HOST), on a bare node:http server: the scanner has no public API, so no Nest HTTP app.
 */
@Injectable()
export class ScannerHttpServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ScannerHttpServer.name);
  private server: Server | null = null;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(Database) private readonly database: Database,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(SpecimenMetrics) private readonly metrics: SpecimenMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.logger.error({ err: e }, `health server: ${req.url ?? ''}`);
        if (!res.headersSent) send(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
        else res.destroy();
      });
    });
    const { host } = this.config.http;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.observability.scannerHttpPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.logger.log(`scanner health and metrics on http://${host}:${port}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://scanner').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: { code: 'VALIDATION_FAILED', message: 'only GET' } });
      return;
    }
    switch (path) {
      case '/health/live':
        send(res, 200, { status: 'ok' });
        return;
      case '/health/ready': {
        const readiness = await checkReadiness(
          {
            database: () => this.database.ping(),
            redis: () => this.queue.ping(),
            storage: () => this.store.ping(),
          },
          this.config.observability.healthCheckTimeoutMs,
        );
        send(res, readiness.status === 'ok' ? 200 : 503, readiness);
        return;
      }
      case '/metrics': {
        if (!metricsAuthorized(req.headers.authorization, this.config.observability.metricsToken)) {
          send(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'the metrics token is required' } });
          return;
        }
        const text = await this.metrics.text();
        res.writeHead(200, { 'Content-Type': this.metrics.contentType, 'Cache-Control': 'no-store' });
        res.end(text);
        return;
      }
      default:
        send(res, 404, { error: { code: 'NOT_FOUND', message: 'no such route' } });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
