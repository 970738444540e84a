import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { Config } from './config.schema.js';

/** Injection token of the {@link Config} object. */
export const CONFIG = Symbol('CONFIG');

@Global()
@Module({})
export class ConfigModule {
  /** Provides the already-parsed config, so a bad environment fails before Nest starts. */
  static forRoot(config: Config): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: CONFIG, useValue: config }], exports: [CONFIG] };
  }
}
