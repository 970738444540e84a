import { readFile } from 'node:fs/promises';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { SCAN_EXTERNALS } from '#contracts';
import { RulesetsRepository, type RulesetRecord } from '#database';
import { compileRules, type YaraRules } from '#yara';

export interface LoadedRuleset {
  id: string;
  name: string;
  version: number;
  rules: YaraRules;
}

/** How often a worker checks which ruleset is active (a later change adds push notification). */
const REFRESH_MS = 5_000;

/**
 * The compiled active ruleset. On the first start of a deployment (no active ruleset in the database)
 * the configured default ruleset becomes version 1.
 */
@Injectable()
export class RulesService implements OnApplicationBootstrap {
  private readonly logger = new Logger(RulesService.name);
  private loaded: LoadedRuleset | null = null;
  private checkedAt = 0;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(RulesetsRepository) private readonly rulesets: RulesetsRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if ((await this.rulesets.findActive()) === null) {
      const path = this.config.scanner.defaultRulesetPath;
      const source = await readFile(path, 'utf8');
      const compiled = compileRules([{ source, fileName: path }], { externals: SCAN_EXTERNALS });
      if (compiled.rules === null || compiled.quarantined.length > 0) {
        throw new Error(
          `the default ruleset ${path} does not compile: ${JSON.stringify(compiled.diagnostics)}`,
        );
      }
      const record = await this.rulesets.activateIfNone({
        name: 'default',
        source,
        ruleCount: compiled.ruleCount,
      });
      this.logger.log(`active ruleset: ${record.name} v${record.version} (${record.ruleCount} rules)`);
    }
    await this.current();
  }

  /** The active ruleset, compiled; re-checked at most every few seconds. */
  async current(): Promise<LoadedRuleset> {
    const now = Date.now();
    if (this.loaded !== null && now - this.checkedAt < REFRESH_MS) return this.loaded;
    const active = await this.rulesets.findActive();
    if (active === null) throw new Error('no active ruleset');
    this.checkedAt = now;
    if (this.loaded?.id !== active.id) this.loaded = this.compile(active);
    return this.loaded;
  }

  private compile(record: RulesetRecord): LoadedRuleset {
    const compiled = compileRules(
      [{ source: record.source, namespace: record.name, fileName: `${record.name}.yar` }],
      { externals: SCAN_EXTERNALS },
    );
    if (compiled.rules === null) {
      throw new Error(`ruleset ${record.name} v${record.version} does not compile`);
    }
    if (compiled.quarantined.length > 0) {
      this.logger.warn(
        `ruleset ${record.name} v${record.version}: quarantined ${compiled.quarantined.join(', ')}`,
      );
    }
    this.logger.log(`compiled ruleset ${record.name} v${record.version} (${compiled.ruleCount} rules)`);
    return { id: record.id, name: record.name, version: record.version, rules: compiled.rules };
  }
}
