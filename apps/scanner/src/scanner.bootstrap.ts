import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { loadConfig } from '#config';
import { ScannerModule } from './scanner.module.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await NestFactory.createApplicationContext(ScannerModule.forRoot(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  // SIGTERM/SIGINT close the workers, which wait for their active jobs.
  app.enableShutdownHooks();
  await app.init();
}

main().catch((e: unknown) => {
  console.error('scanner failed to start:', e);
  process.exit(1);
});
