import type { Config } from './config.schema.js';

/**
 * The instant before which a sample's last sighting puts it past retention (`RETENTION_DAYS` ago): such a
 * sample is no longer served, looked up or kept, whether or not the sweep has removed it yet.
 */
export function retentionCutoff(config: Pick<Config, 'stewardship'>, now: number = Date.now()): Date {
  return new Date(now - config.stewardship.retentionDays * 86_400_000);
}
