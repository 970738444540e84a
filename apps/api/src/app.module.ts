import { type DynamicModule, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { type Config, ConfigModule } from '#config';
import { DatabaseModule } from '#database';
import { ObservabilityModule } from '#observability';
import { QueueModule } from '#queue';
import { StorageModule } from '#storage';
import { AgentsController, EnrollmentTokensController } from './agents/agents.controller.js';
import { AgentsService } from './agents/agents.service.js';
import { ConsentGuard } from './agents/consent.guard.js';
import { AuthGuard } from './auth/auth.js';
import { MeController } from './auth/me.controller.js';
import { PrincipalsService } from './auth/principals.service.js';
import { DocsController } from './docs/docs.controller.js';
import { RouteDiscovery } from './docs/route-discovery.js';
import { OutboxDispatcher } from './jobs/outbox-dispatcher.js';
import { HealthController } from './health/health.controller.js';
import { FailedJobsController } from './jobs/failed-jobs.controller.js';
import { FailedJobsService } from './jobs/failed-jobs.service.js';
import { QueuesController } from './jobs/queues.controller.js';
import { RetrohuntsController } from './retrohunts/retrohunts.controller.js';
import { RetrohuntsService } from './retrohunts/retrohunts.service.js';
import { SpecimenExceptionFilter } from './http/exception.filter.js';
import { RulesetsController } from './rulesets/rulesets.controller.js';
import { RulesetsService } from './rulesets/rulesets.service.js';
import { BackpressureGuard } from './limits/backpressure.guard.js';
import { RateLimitGuard } from './limits/rate-limit.guard.js';
import { LookupsController } from './lookups/lookups.controller.js';
import { LookupsService } from './lookups/lookups.service.js';
import { AuditController } from './audit/audit.controller.js';
import { AuditService } from './audit/audit.service.js';
import { SampleContentService } from './samples/sample-content.service.js';
import { SamplesController } from './samples/samples.controller.js';
import { SamplesService } from './samples/samples.service.js';
import { MaintenanceController, StatsController } from './stats/stats.controller.js';
import { StatsService } from './stats/stats.service.js';
import { SubmissionsController } from './submissions/submissions.controller.js';
import { SubmissionsService } from './submissions/submissions.service.js';
import { UploadInterceptor } from './submissions/upload.interceptor.js';
import { TokensController } from './tokens/tokens.controller.js';
import { TokensService } from './tokens/tokens.service.js';
import { TUS_VERSION } from './uploads/tus.js';
import { UploadsController } from './uploads/uploads.controller.js';
import { UploadsService } from './uploads/uploads.service.js';
import { UploadsSweeper } from './uploads/uploads.sweeper.js';

@Module({})
export class ApiModule implements NestModule {
  static forRoot(config: Config): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        // The root logger only: request ids, request-scoped context and access lines come from
        // requestLog (apps/api/src/http/request-log.ts), registered in main.ts.
        LoggerModule.forRoot({
          forRoutes: [],
          pinoHttp: {
            level: config.logLevel,
            // No client address in any log line: DESIGN.md promises no IP addresses are kept about agents.
            serializers: {
              req: (req: { id: unknown; method: unknown; url: unknown }) => ({
                id: req.id,
                method: req.method,
                url: req.url,
              }),
            },
          },
        }),
        DatabaseModule.forRoot(),
        StorageModule.forRoot(),
        QueueModule.forRoot(),
        ObservabilityModule.forRoot('api'),
        DiscoveryModule,
      ],
      controllers: [
        HealthController,
        DocsController,
        MeController,
        RulesetsController,
        SamplesController,
        SubmissionsController,
        TokensController,
        EnrollmentTokensController,
        AgentsController,
        StatsController,
        MaintenanceController,
        LookupsController,
        AuditController,
        RetrohuntsController,
        FailedJobsController,
        QueuesController,
        UploadsController,
      ],
      providers: [
        OutboxDispatcher,
        PrincipalsService,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: SpecimenExceptionFilter },
        RulesetsService,
        AuditService,
        SampleContentService,
        SamplesService,
        AgentsService,
        StatsService,
        LookupsService,
        ConsentGuard,
        RateLimitGuard,
        BackpressureGuard,
        SubmissionsService,
        TokensService,
        UploadInterceptor,
        RetrohuntsService,
        FailedJobsService,
        UploadsService,
        UploadsSweeper,
        RouteDiscovery,
      ],
    };
  }

  /** tus wants its version on every response of its endpoints, errors from guards included. */
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply((_req: unknown, res: { setHeader(name: string, value: string): void }, next: () => void) => {
        res.setHeader('Tus-Resumable', TUS_VERSION);
        res.setHeader('Tus-Version', TUS_VERSION);
        next();
      })
      .forRoutes('v1/uploads', 'v1/uploads/*path');
  }
}
