import { type DynamicModule, Global, Module } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { createObjectStore } from './create-object-store.js';

/** Injection token of the configured {@link ObjectStore}. */
export const OBJECT_STORE = Symbol('OBJECT_STORE');

@Global()
@Module({})
export class StorageModule {
  /** The driver chosen by STORAGE_URL; its root folder or bucket is created when missing. */
  static forRoot(): DynamicModule {
    return {
      module: StorageModule,
      providers: [
        {
          provide: OBJECT_STORE,
          inject: [CONFIG],
          useFactory: (config: Config) =>
            createObjectStore(config.storage.url, {
              partSize: config.storage.partSize,
              timeoutMs: config.storage.timeoutMs,
            }),
        },
      ],
      exports: [OBJECT_STORE],
    };
  }
}
