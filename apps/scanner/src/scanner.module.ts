import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { type Config, ConfigModule } from '#config';
import { DatabaseModule } from '#database';
import { ObservabilityModule } from '#observability';
import { QueueModule } from '#queue';
import { StorageModule } from '#storage';
import { ScannerHttpServer } from './http.server.js';
import { LookupSightingsWriter } from './lookup-sightings.js';
import { OutboxRedrive } from './outbox.redrive.js';
import { RetroChainsRedrive } from './retro-chains.redrive.js';
import { RetrohuntRulesSweep } from './retrohunt-rules.sweep.js';
import { RetrohuntProcessor } from './retrohunt.processor.js';
import { RetroscanProcessor } from './retroscan.processor.js';
import { RulesService } from './rules.service.js';
import { ScanProcessor } from './scan.processor.js';
import { StewardshipJobs } from './stewardship/stewardship.jobs.js';
import { WorkersService } from './workers.service.js';

@Module({})
export class ScannerModule {
  static forRoot(config: Config): DynamicModule {
    return {
      module: ScannerModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({ pinoHttp: { level: config.logLevel } }),
        DatabaseModule.forRoot({ boundedStatements: false }),
        StorageModule.forRoot(),
        QueueModule.forRoot(),
        ObservabilityModule.forRoot('scanner'),
      ],
      providers: [
        RulesService,
        ScanProcessor,
        RetrohuntProcessor,
        RetrohuntRulesSweep,
        RetroscanProcessor,
        OutboxRedrive,
        RetroChainsRedrive,
        LookupSightingsWriter,
        StewardshipJobs,
        WorkersService,
        ScannerHttpServer,
      ],
    };
  }
}
