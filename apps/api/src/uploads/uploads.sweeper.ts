import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { UploadsService } from './uploads.service.js';

/**
 * Sweeps expired resumable uploads and their parts on a timer in each API process. Sweeps from several
 * replicas are harmless: a row is deleted (and its parts then removed) by exactly one of them.
 */
@Injectable()
export class UploadsSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(UploadsSweeper.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(UploadsService) private readonly uploads: UploadsService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.tick(), this.config.limits.resumableSweepIntervalMs);
    this.timer.unref();
  }

  private tick(): void {
    this.running ??= this.uploads
      .sweep()
      .then((swept) => {
        if (swept > 0) this.logger.log(`swept ${swept} expired uploads`);
      })
      .catch((e: unknown) => this.logger.warn({ err: e }, 'upload sweep failed'))
      .finally(() => {
        this.running = null;
      });
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await this.running;
  }
}
