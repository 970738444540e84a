import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ActivateRulesetRequest,
  CreateRulesetRequest,
  JobName,
  QueueName,
  type RetroscanBatchJob,
  type Principal,
  type RuleStateChanged,
  type RuleView,
  type RulesetCreated,
  type RulesetStatus,
  type RulesetSummaryView,
  type RulesetView,
  SetRuleStateRequest,
  SpecimenError,
  UUID,
} from '#contracts';
import {
  AuditRepository,
  Database,
  type Executor,
  OutboxRepository,
  RetroscansRepository,
  RulesetsRepository,
  type RulesetDetail,
  type RulesetSummary,
} from '#database';
import { CONFIG, type Config } from '#config';
import { SpecimenMetrics } from '#observability';
import {
  ConnectionErrorThrottle,
  type RulesetChange,
  RulesetPublisher,
  retroscanJobId,
  retroscanKey,
} from '#queue';
import { ruleDefinitions } from '#yara';
import { parseOrThrow } from '../http/validation.js';
import { compileSubmitted } from './diagnostics.js';
import { OutboxDispatcher } from '../jobs/outbox-dispatcher.js';

const LIST_LIMIT = 500;

const actor = (id: string | null, name: string | null) => (id === null ? null : { id, name });

function summaryView(r: RulesetSummary): RulesetSummaryView {
  return {
    id: r.id,
    name: r.name,
    version: r.version,
    status: r.status,
    sourceSha256: r.sourceSha256,
    ruleCount: r.ruleCount,
    quarantined: r.quarantined,
    createdAt: r.createdAt.toISOString(),
    createdBy: actor(r.createdBy, r.createdByName),
    activatedAt: r.activatedAt?.toISOString() ?? null,
    activatedBy: actor(r.activatedBy, r.activatedByName),
  };
}

/** Analysts work on rules in staging; what scanners run now (or ran) is the admin's to change. */
function mayChangeRules(status: RulesetStatus, principal: Principal): void {
  if (status !== 'staging' && principal.role !== 'admin') {
    throw new SpecimenError('FORBIDDEN', `only an admin may change rules of a ruleset that is ${status}`, {
      status,
    });
  }
}

/** How many times each name occurs in a list of rule names. */
function counts(names: readonly string[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const name of names) n.set(name, (n.get(name) ?? 0) + 1);
  return n;
}

/**
 * Each rule of the source with its state. A name defined twice is quarantined in its later definitions
 * (the compiler keeps the first): of a name's definitions, the last ones are as many as it was quarantined.
 */
type RuleDefinitions = ReturnType<typeof ruleDefinitions>;

/**
 * The rule definitions of the last few versions read, by id and source hash (a version's source never
 * changes): splitting a large source on every read of it held the event loop (signature-base's 5,234
 * rules, 5.9 MB: 240–320 ms a read of the version or a change of one rule's state).
 */
export class RuleDefinitionsCache {
  private readonly entries = new Map<string, RuleDefinitions>();

  constructor(
    private readonly size = 16,
    private readonly split: (source: string) => RuleDefinitions = ruleDefinitions,
  ) {}

  of(detail: Pick<RulesetDetail, 'id' | 'sourceSha256' | 'source'>): RuleDefinitions {
    const key = `${detail.id}:${detail.sourceSha256}`;
    let definitions = this.entries.get(key);
    if (definitions === undefined) definitions = this.split(detail.source);
    // Most recently used last: the first key is the one to drop.
    this.entries.delete(key);
    this.entries.set(key, definitions);
    if (this.entries.size > this.size) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return definitions;
  }
}

const definitionsCache = new RuleDefinitionsCache();

function rulesOf(detail: RulesetDetail): (RuleView & { modifiers: string[] })[] {
  const definitions = definitionsCache.of(detail);
  const remaining = counts(definitions.map((d) => d.name));
  const quarantined = counts(detail.quarantined);
  return definitions.map(({ name, modifiers }) => {
    const left = remaining.get(name) ?? 0;
    remaining.set(name, left - 1);
    return {
      name,
      modifiers,
      state:
        left <= (quarantined.get(name) ?? 0) ? 'quarantined' : (detail.ruleStates[name]?.state ?? 'enabled'),
    };
  });
}

@Injectable()
export class RulesetsService {
  private readonly logger = new Logger(RulesetsService.name);
  private readonly redisDown = new ConnectionErrorThrottle();

  constructor(
    @Inject(CONFIG) private readonly config: Pick<Config, 'limits'>,
    @Inject(OutboxDispatcher) private readonly dispatcher: OutboxDispatcher,
    @Inject(Database) private readonly database: Database,
    @Inject(RulesetsRepository) private readonly rulesets: RulesetsRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(RulesetPublisher) private readonly publisher: RulesetPublisher,
    @Inject(OutboxRepository) private readonly outbox: OutboxRepository,
    @Inject(RetroscansRepository) private readonly retroscans: RetroscansRepository,
    @Inject(SpecimenMetrics) private readonly metrics: SpecimenMetrics,
  ) {}

  /**
   * Compiles every rule on its own and stores the version in `staging` with what did not compile. Refused
   * (400) only when no rule at all compiles.
   */
  async create(body: unknown, principal: Principal): Promise<RulesetCreated> {
    const request = parseOrThrow(CreateRulesetRequest, body, 'body');
    const compiled = await compileSubmitted(
      request.source,
      request.name,
      'ruleset',
      this.config.limits.ruleCompile,
      (errors) => this.metrics.ruleCompileErrors.inc(errors),
    );
    const created = await this.database.transaction(async (tx) => {
      const record = await this.rulesets.create(
        {
          name: request.name,
          source: request.source,
          ruleCount: compiled.ruleCount,
          diagnostics: compiled.diagnostics,
          quarantined: compiled.quarantined,
          createdBy: principal.tokenId,
        },
        tx,
      );
      await this.audit.append(
        {
          actorId: principal.tokenId,
          actorName: principal.name,
          action: 'ruleset.create',
          targetType: 'ruleset',
          targetId: record.id,
          details: {
            name: record.name,
            version: record.version,
            sourceSha256: record.sourceSha256,
            ruleCount: record.ruleCount,
            quarantined: record.quarantined,
          },
        },
        tx,
      );
      return record;
    });
    return {
      id: created.id,
      name: created.name,
      version: created.version,
      status: created.status,
      ruleCount: created.ruleCount,
      quarantined: created.quarantined,
      diagnostics: compiled.diagnostics,
    };
  }

  async list(): Promise<RulesetSummaryView[]> {
    return (await this.rulesets.list(LIST_LIMIT)).map(summaryView);
  }

  async find(id: string): Promise<RulesetView> {
    const detail = await this.detail(id);
    return {
      ...summaryView(detail),
      source: detail.source,
      diagnostics: detail.diagnostics,
      rules: rulesOf(detail).map(({ name, state }) => {
        const set = detail.ruleStates[name];
        return set === undefined
          ? { name, state }
          : { name, state, changedBy: set.by, changedAt: set.at.toISOString() };
      }),
    };
  }

  /**
   * Makes the version active and the previous one disabled; every scanner switches within seconds. With
   * `retroscan`, every sample stored now is queued for a low-priority rescan (in batches on the retrohunt
   * queue), committed with the activation through the outbox.
   */
  async activate(id: string, body: unknown, principal: Principal): Promise<RulesetSummaryView> {
    const { retroscan } = parseOrThrow(ActivateRulesetRequest, body ?? {}, 'body');
    if (!UUID.test(id)) throw new SpecimenError('NOT_FOUND', 'no such ruleset');
    const outcome = await this.database.transaction(async (tx) => {
      const result = await this.rulesets.activate(id, principal.tokenId, tx);
      if (result === undefined) throw new SpecimenError('NOT_FOUND', 'no such ruleset');
      const job: RetroscanBatchJob | null = retroscan
        ? { rulesetId: id, until: new Date().toISOString() }
        : null;
      const outboxId = job === null ? null : await this.committedRetroscan(job, tx);
      if (result.previous !== id || retroscan) {
        await this.audit.append(
          {
            actorId: principal.tokenId,
            actorName: principal.name,
            action: 'ruleset.activate',
            targetType: 'ruleset',
            targetId: id,
            details: { previous: result.previous, retroscan },
          },
          tx,
        );
      }
      return { ...result, job, outboxId };
    });
    if (outcome.previous !== id) await this.announce({ kind: 'activated', rulesetId: id });
    if (outcome.job !== null && outcome.outboxId !== null) {
      await this.dispatchRetroscan(outcome.job, outcome.outboxId);
    }
    return summaryView(await this.detail(id));
  }

  /** Analysts may change rules of staging versions; admins those of any version. */
  async setRuleState(
    id: string,
    rule: string,
    body: unknown,
    principal: Principal,
  ): Promise<RuleStateChanged> {
    const { state, rescan } = parseOrThrow(SetRuleStateRequest, body, 'body');
    const detail = await this.detail(id);
    mayChangeRules(detail.status, principal);
    // Its definitions with their states (a name defined twice runs as its first definition).
    const definitions = rulesOf(detail).filter((r) => r.name === rule);
    if (definitions.length === 0) {
      throw new SpecimenError('NOT_FOUND', `ruleset ${detail.name} v${detail.version} has no rule ${rule}`);
    }
    if (definitions.every((r) => r.state === 'quarantined')) {
      // It does not compile: no state makes it run, so none is recorded (nor audited as a change).
      throw new SpecimenError(
        'CONFLICT',
        `rule ${rule} does not compile and stays quarantined; fix it in a new version of the ruleset`,
        { rule, state: 'quarantined' },
      );
    }
    // The definition that runs: a global rule gates every rule of its namespace and a private one reports
    // no match of its own, while states act on the matches a scan reports. Disabling either, or marking
    // it noisy, would be recorded and change nothing.
    const running = definitions.find((r) => r.state !== 'quarantined');
    const modifier = running?.modifiers.find((m) => m === 'global' || m === 'private');
    if (modifier !== undefined && state !== 'enabled') {
      throw new SpecimenError(
        'CONFLICT',
        modifier === 'global'
          ? `rule ${rule} is global: it gates every rule of the ruleset, which ${state === 'noisy' ? 'marking it noisy' : 'disabling its matches'} would not lift; change it in a new version of the ruleset`
          : `rule ${rule} is private: it reports no match of its own (the rules using it do), so ${state === 'noisy' ? 'marking it noisy' : 'disabling it'} would change nothing; change those rules, or this one in a new version`,
        { rule, modifier },
      );
    }
    const previous = detail.ruleStates[rule]?.state ?? 'enabled';
    const outcome = await this.database.transaction(async (tx) => {
      // Checked again under the version's row lock: an activation committed meanwhile makes it admin's,
      // and whether scanners must hear of the change depends on the status at the commit.
      const locked = await this.rulesets.lockedStatus(id, tx);
      if (locked === null) throw new SpecimenError('NOT_FOUND', 'no such ruleset');
      mayChangeRules(locked, principal);
      if (rescan && locked !== 'active') {
        throw new SpecimenError('CONFLICT', `rescan applies to the active version; this one is ${locked}`, {
          status: locked,
        });
      }
      await this.rulesets.setRuleState({ rulesetId: id, rule, state, updatedBy: principal.tokenId }, tx);
      // The samples whose verdict the change can move: those whose latest scan matched the rule (noisy
      // matches are recorded too), or every sample when a disabled rule comes back (its matches were not).
      const job: RetroscanBatchJob | null = rescan
        ? {
            rulesetId: id,
            until: new Date().toISOString(),
            ...(previous === 'disabled' && state !== 'disabled' ? {} : { rule }),
          }
        : null;
      const outboxId = job === null ? null : await this.committedRetroscan(job, tx);
      await this.audit.append(
        {
          actorId: principal.tokenId,
          actorName: principal.name,
          action: 'ruleset.rule-state',
          targetType: 'ruleset',
          targetId: id,
          details: { rule, state, previous, rescan },
        },
        tx,
      );
      return { status: locked, job, outboxId };
    });
    // Announced first: the scanners reload the states before the rescans, which go through two queues.
    if (outcome.status === 'active') await this.announce({ kind: 'rule-states', rulesetId: id });
    if (outcome.job !== null && outcome.outboxId !== null) {
      await this.dispatchRetroscan(outcome.job, outcome.outboxId);
      return {
        name: rule,
        state,
        rescan: { jobId: retroscanJobId(outcome.job), allSamples: outcome.job.rule === undefined },
      };
    }
    return { name: rule, state };
  }

  /**
   * A retro-scan's first batch, committed to the outbox in the caller's transaction, with the row its batches
   * record their progress in (from which a chain whose next job Redis lost is put back).
   */
  private async committedRetroscan(job: RetroscanBatchJob, tx: Executor): Promise<number> {
    await this.retroscans.create(
      {
        key: retroscanKey(job),
        rulesetId: job.rulesetId,
        until: new Date(job.until),
        ...(job.rule === undefined ? {} : { rule: job.rule }),
      },
      tx,
    );
    return this.outbox.add(
      {
        queue: QueueName.Retrohunt,
        name: JobName.RetroscanBatch,
        jobId: retroscanJobId(job),
        payload: { ...job },
      },
      tx,
    );
  }

  /** After the commit: queued now, or by the outbox re-drive if Redis does not take it. */
  private async dispatchRetroscan(job: RetroscanBatchJob, outboxId: number): Promise<void> {
    await this.dispatcher.dispatch(
      { queue: QueueName.Retrohunt, name: JobName.RetroscanBatch, data: job },
      retroscanJobId(job),
      outboxId,
    );
  }

  private async detail(id: string): Promise<RulesetDetail> {
    const detail = UUID.test(id) ? await this.rulesets.findDetail(id) : null;
    if (detail === null) throw new SpecimenError('NOT_FOUND', 'no such ruleset');
    return detail;
  }

  /** After the commit. Pub/sub failing is not the caller's failure: scanners also poll the database. */
  private async announce(change: RulesetChange): Promise<void> {
    try {
      await this.publisher.publish(change);
    } catch (e) {
      // While Redis is down: one line a minute without a stack, not one with a stack per change.
      this.redisDown.warn(
        this.logger,
        e,
        `could not publish ruleset change (${change.kind} of ${change.rulesetId}); scanners will poll it`,
      );
    }
  }
}
