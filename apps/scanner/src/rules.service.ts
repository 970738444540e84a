import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { SCAN_COMPILE_OPTIONS } from '#contracts';
import { RulesetsRepository, type RuleState, type RulesetRecord } from '#database';
import { RulesetSubscriber } from '#queue';
import { SpecimenMetrics } from '#observability';
import { type YaraRules, compileRulesAsync, compileTag, loadRules } from '#yara';

export interface LoadedRuleset {
  id: string;
  name: string;
  version: number;
  rules: YaraRules;
  /** Rules that are not plainly enabled: `disabled` ones never count, `noisy` ones do not raise verdicts. */
  states: ReadonlyMap<string, RuleState>;
  /** PostgreSQL's clock before the active version and these states were read: they hold what committed earlier. */
  readAt: Date;
}

/** One scan's hold on a ruleset: its compiled rules stay alive until every holder has released them. */
export interface RulesetLease {
  readonly ruleset: LoadedRuleset;
  release(): void;
}

interface Slot {
  loaded: LoadedRuleset;
  leases: number;
  retired: boolean;
}

/**
 * Cache file of a compiled version: what libyara writes depends on the text and on what {@link compileTag}
 * names (libyara's version, the options every ruleset is compiled with: changing them recompiles).
 */
export function cacheFileName(record: Pick<RulesetRecord, 'name' | 'sourceSha256'>): string {
  const name = record.name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${record.sourceSha256}.${name}.${compileTag([record.name], SCAN_COMPILE_OPTIONS)}.rules`;
}

/**
 * The compiled active ruleset of this scanner process. Changes arrive on Redis pub/sub (the API publishes
 * each activation and rule-state change) and a slow database poll catches what pub/sub missed. A swap
 * never disturbs running scans: they hold a lease on the rules they started with, and the old rules are
 * destroyed when the last lease is released. On the first start of a deployment (no active ruleset in the
 * database) the configured default ruleset becomes version 1.
 */
@Injectable()
export class RulesService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RulesService.name);
  private slot: Slot | null = null;
  /** Loads run one after the other; a scan starting while one is queued waits for it. */
  private tail: Promise<void> = Promise.resolve();
  private queued = false;
  private timer: NodeJS.Timeout | undefined;
  private subscriber: RulesetSubscriber | null = null;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(RulesetsRepository) private readonly rulesets: RulesetsRepository,
    @Inject(SpecimenMetrics) private readonly metrics: SpecimenMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Nest runs this module's bootstrap hooks together, so the scan workers start while this first load
    // (a compile of seconds for a large ruleset, off the event loop) is under way: their scans wait for it
    // in acquire() instead of failing for want of rules.
    const first = this.firstLoad();
    this.tail = first;
    await first;
    this.subscriber = new RulesetSubscriber(
      { url: this.config.redis.url, prefix: this.config.redis.queuePrefix },
      (change) => {
        this.logger.log(`ruleset change (${change.kind} ${change.rulesetId}): reloading`);
        void this.refresh();
      },
      // After a reconnect: changes published while we were away were lost.
      () => void this.refresh(),
    );
    await this.subscriber.start();
    this.timer = setInterval(() => void this.refresh(), this.config.scanner.rulesPollMs);
  }

  /** On the first start of a deployment the configured default ruleset becomes version 1; then the load. */
  private async firstLoad(): Promise<void> {
    // The id only: load() below reads the active version's text, once.
    if ((await this.rulesets.activeId()).id === null) {
      const path = this.config.scanner.defaultRulesetPath;
      const source = await readFile(path, 'utf8');
      const compiled = await compileRulesAsync([{ source, fileName: path }], SCAN_COMPILE_OPTIONS);
      compiled.rules?.destroy();
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
    await this.load();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.subscriber?.close();
    this.subscriber = null;
  }

  /**
   * The ruleset a scan should use, held until `release()` (call it exactly once, in a finally). With
   * `rulesAsOf` (a job's, see ScanSampleJob), rules and states last read before that instant are read again
   * first: the change the job was queued for may not have reached this process.
   */
  async acquire(rulesAsOf?: string): Promise<RulesetLease> {
    await this.tail;
    const readAt = this.slot?.loaded.readAt.getTime();
    // At the same millisecond too: the clocks are kept to the millisecond, the instants are finer.
    if (rulesAsOf !== undefined && readAt !== undefined && readAt <= Date.parse(rulesAsOf)) {
      await this.refresh();
    }
    const slot = this.slot;
    if (slot === null) throw new Error('no active ruleset is loaded');
    slot.leases += 1;
    let released = false;
    return {
      ruleset: slot.loaded,
      release: () => {
        if (released) return;
        released = true;
        slot.leases -= 1;
        this.destroyIfUnused(slot);
      },
    };
  }

  /** Re-reads the active version and rule states; concurrent calls share one queued load. */
  refresh(): Promise<void> {
    if (this.queued) return this.tail;
    this.queued = true;
    this.tail = this.tail
      .then(() => {
        this.queued = false;
        return this.load();
      })
      .catch((e: unknown) => this.logger.error({ err: e }, 'could not reload the active ruleset'));
    return this.tail;
  }

  /**
   * The active version's id and the clock first (one small statement): its text (megabytes for a large
   * ruleset) is read only when the version is not the one loaded, not at every poll, event and rescan.
   */
  private async load(): Promise<void> {
    const { id, at: readAt } = await this.rulesets.activeId();
    if (id === null) {
      if (this.slot === null) throw new Error('no active ruleset');
      return;
    }
    const states = await this.loadStates(id);
    const current = this.slot;
    if (current?.loaded.id === id) {
      current.loaded = { ...current.loaded, states, readAt };
      return;
    }
    // Active at readAt; if another is by now, its announcement (or the next poll) loads it.
    const active = await this.rulesets.findById(id);
    if (active === null) throw new Error(`ruleset ${id} is gone`);
    const rules = await this.compiled(active);
    this.slot = {
      loaded: { id: active.id, name: active.name, version: active.version, rules, states, readAt },
      leases: 0,
      retired: false,
    };
    this.logger.log(`active ruleset is now ${active.name} v${active.version} (${rules.ruleCount} rules)`);
    if (current !== null) {
      current.retired = true;
      this.destroyIfUnused(current);
    }
  }

  private async loadStates(rulesetId: string): Promise<ReadonlyMap<string, RuleState>> {
    const states = await this.rulesets.ruleStates(rulesetId);
    return new Map(Object.entries(states).filter(([, state]) => state !== 'enabled'));
  }

  private destroyIfUnused(slot: Slot): void {
    if (slot.retired && slot.leases === 0) slot.loaded.rules.destroy();
  }

  /** From the on-disk cache when it holds this version, else compiled (and then cached). */
  private async compiled(record: RulesetRecord): Promise<YaraRules> {
    const dir = this.config.scanner.rulesCacheDir;
    const path = join(dir, cacheFileName(record));
    if (existsSync(path)) {
      try {
        const rules = loadRules(path);
        this.logger.log(`loaded ruleset ${record.name} v${record.version} from the cache`);
        return rules;
      } catch (e) {
        this.logger.warn({ err: e }, `cached rules ${path} are unreadable; recompiling`);
      }
    }
    // On the thread pool: a large ruleset compiles for seconds, and scans, health checks and job lock
    // renewals must keep running meanwhile.
    const compiled = await compileRulesAsync(
      [{ source: record.source, namespace: record.name, fileName: `${record.name}.yar` }],
      SCAN_COMPILE_OPTIONS,
    );
    if (compiled.rules === null) {
      throw new Error(`ruleset ${record.name} v${record.version} does not compile`);
    }
    this.metrics.ruleCompileErrors.inc(compiled.diagnostics.filter((d) => d.severity === 'error').length);
    if (compiled.quarantined.length > 0) {
      this.logger.warn(
        `ruleset ${record.name} v${record.version}: quarantined ${compiled.quarantined.join(', ')}`,
      );
    }
    this.logger.log(`compiled ruleset ${record.name} v${record.version} (${compiled.ruleCount} rules)`);
    // Written under a temporary name and renamed, so replicas sharing the folder never read half a file.
    const temp = `${path}.${process.pid}.tmp`;
    try {
      await mkdir(dir, { recursive: true });
      compiled.rules.save(temp);
      await rename(temp, path);
    } catch (e) {
      await rm(temp, { force: true });
      this.logger.warn({ err: e }, `could not cache compiled rules in ${dir}`);
    }
    return compiled.rules;
  }
}
