import { type DynamicModule, Global, Module, type OnApplicationShutdown, Inject } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { Database } from './database.js';
import { AgentsRepository } from './repositories/agents.repository.js';
import { AuditRepository } from './repositories/audit.repository.js';
import { OutboxRepository } from './repositories/outbox.repository.js';
import { RetrohuntsRepository } from './repositories/retrohunts.repository.js';
import { RetroscansRepository } from './repositories/retroscans.repository.js';
import { RulesetsRepository } from './repositories/rulesets.repository.js';
import { SamplesRepository } from './repositories/samples.repository.js';
import { ScansRepository } from './repositories/scans.repository.js';
import { StewardshipRepository } from './repositories/stewardship.repository.js';
import { SubmissionsRepository } from './repositories/submissions.repository.js';
import { TokensRepository } from './repositories/tokens.repository.js';
import { UploadsRepository } from './repositories/uploads.repository.js';

const REPOSITORIES = [
  AgentsRepository,
  AuditRepository,
  OutboxRepository,
  RetrohuntsRepository,
  RetroscansRepository,
  RulesetsRepository,
  SamplesRepository,
  ScansRepository,
  SubmissionsRepository,
  TokensRepository,
  UploadsRepository,
] as const;

@Global()
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly database: Database) {}

  /**
   * Connects (creating and migrating the database first) before any provider that needs it is built.
   * `boundedStatements: false` (the scanner) leaves out DATABASE_QUERY_TIMEOUT_MS: its roll-ups and sweeps
   * may rightly run long, and a job waiting on a database that hangs resumes when it answers; requests,
   * which someone waits for, are bounded.
   */
  static forRoot(options: { boundedStatements?: boolean } = {}): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        {
          provide: Database,
          inject: [CONFIG],
          useFactory: (config: Config) =>
            Database.connect({
              url: config.database.url,
              poolMax: config.database.poolMax,
              connectTimeoutMs: config.database.connectTimeoutMs,
              queryTimeoutMs: options.boundedStatements === false ? 0 : config.database.queryTimeoutMs,
              pseudonymKey: config.auth.pseudonymKey,
            }),
        },
        ...REPOSITORIES.map((repository) => ({
          provide: repository,
          inject: [Database],
          useFactory: (database: Database) => new repository(database),
        })),
        {
          provide: StewardshipRepository,
          inject: [Database, CONFIG],
          useFactory: (database: Database, config: Config) =>
            new StewardshipRepository(database, config.auth.pseudonymKey),
        },
      ],
      exports: [Database, ...REPOSITORIES, StewardshipRepository],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.database.close();
  }
}
