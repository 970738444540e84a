import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { CONFIG, type Config, retentionCutoff } from '#config';
import {
  CreateRetrohuntRequest,
  JobName,
  type Principal,
  QueueName,
  RETROHUNT_NAMESPACE,
  RetrohuntMatchesQuery,
  type RetrohuntSummaryView,
  type RetrohuntView,
  SCAN_COMPILE_OPTIONS,
  SpecimenError,
  UUID,
} from '#contracts';
import {
  AuditRepository,
  Database,
  OutboxRepository,
  RetrohuntsRepository,
  type RetrohuntRecord,
  type RetrohuntSummaryRecord,
} from '#database';
import { retrohuntJobId } from '#queue';
import {
  OBJECT_STORE,
  type ObjectStore,
  deletePrefix,
  retrohuntRulesKey,
  retrohuntRulesPrefix,
} from '#storage';
import { type YaraRules, compileTag } from '#yara';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { parseOrThrow } from '../http/validation.js';
import { compileSubmittedRules } from '../rulesets/diagnostics.js';
import { OutboxDispatcher } from '../jobs/outbox-dispatcher.js';

const LIST_LIMIT = 200;
const MatchCursor = z.strictObject({ m: z.number().int().min(0) });

function summaryView(r: RetrohuntSummaryRecord): RetrohuntSummaryView {
  return {
    id: r.id,
    status: r.status,
    ruleCount: r.ruleCount,
    progress: { scanned: r.scanned, timedOut: r.timedOut, total: r.total, bytes: r.bytes },
    matchCount: r.matchCount,
    createdAt: r.createdAt.toISOString(),
    createdBy: r.createdBy === null ? null : { id: r.createdBy, name: r.createdByName },
    startedAt: r.startedAt?.toISOString() ?? null,
    finishedAt: r.finishedAt?.toISOString() ?? null,
    error: r.error,
  };
}

@Injectable()
export class RetrohuntsService {
  private readonly logger = new Logger(RetrohuntsService.name);
  /** The name part of stored compiled rules that says what they were compiled with (as the scanner does). */
  private readonly rulesTag = compileTag([RETROHUNT_NAMESPACE], SCAN_COMPILE_OPTIONS);

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(OutboxDispatcher) private readonly dispatcher: OutboxDispatcher,
    @Inject(Database) private readonly database: Database,
    @Inject(RetrohuntsRepository) private readonly retrohunts: RetrohuntsRepository,
    @Inject(OutboxRepository) private readonly outbox: OutboxRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
  ) {}

  /**
   * Compiles the rules (400 with diagnostics when any does not compile), stores the retrohunt with its total
   * and queues its first batch. Unlike a ruleset, no rule is left out. The compiled rules are
   * left in object storage meanwhile, so the scanner loads them instead of compiling the text again.
   */
  async create(body: unknown, principal: Principal): Promise<RetrohuntSummaryView> {
    const { source } = parseOrThrow(CreateRetrohuntRequest, body, 'body');
    const { rules, ruleCount, errorCount, quarantined, diagnostics } = await compileSubmittedRules(
      source,
      RETROHUNT_NAMESPACE,
      'retrohunt',
      this.config.limits.ruleCompile,
    );
    if (errorCount > 0) {
      // A ruleset keeps working without its broken rules; a hunt runs every rule it is given, or none,
      // since a hunt that silently left some out would answer a question nobody asked.
      rules.destroy();
      const broken = quarantined.length;
      const which =
        broken === 0
          ? 'not every rule compiles'
          : `${broken} of the ${ruleCount + broken} rules ${broken === 1 ? 'does' : 'do'} not compile`;
      throw new SpecimenError('VALIDATION_FAILED', `${which}; a retrohunt runs every rule it is given`, {
        issues: [{ field: 'body.source', message: 'rules do not compile' }],
        diagnostics,
      });
    }
    const id = randomUUID();
    // Written to a file before storeRules() returns, so the rules can go now.
    const stored = this.storeRules(id, rules);
    rules.destroy();
    const item = {
      queue: QueueName.Retrohunt,
      name: JobName.RetrohuntBatch,
    } as const;
    const { record, outboxId } = await this.database
      .transaction(async (tx) => {
        const created = await this.retrohunts.create(
          {
            id,
            source,
            sourceSha256: createHash('sha256').update(source, 'utf8').digest('hex'),
            ruleCount,
            createdBy: principal.tokenId,
          },
          retentionCutoff(this.config),
          tx,
        );
        const outboxId = await this.outbox.add(
          { ...item, jobId: retrohuntJobId(created.id), payload: { retrohuntId: created.id } },
          tx,
        );
        await this.audit.append(
          {
            actorId: principal.tokenId,
            actorName: principal.name,
            action: 'retrohunt.create',
            targetType: 'retrohunt',
            targetId: created.id,
            details: { sourceSha256: created.sourceSha256, ruleCount, total: created.total },
          },
          tx,
        );
        return { record: created, outboxId };
      })
      .catch(async (e: unknown) => {
        await stored;
        await this.dropRules(id);
        throw e;
      });
    // Before the job is queued, so the scanner finds them (it compiles the text when they are not there).
    await stored;
    await this.dispatcher.dispatch(
      { ...item, data: { retrohuntId: record.id } },
      retrohuntJobId(record.id),
      outboxId,
    );
    return summaryView(record);
  }

  async list(): Promise<RetrohuntSummaryView[]> {
    return (await this.retrohunts.list(LIST_LIMIT)).map(summaryView);
  }

  /**
   * The retrohunt with a page of its matches, in the order they were found; without its source with
   * `source=false` (what a client following the progress reads: the text can be megabytes).
   */
  async find(id: string, query: unknown): Promise<RetrohuntView> {
    const { limit, cursor, source } = parseOrThrow(RetrohuntMatchesQuery, query, 'query');
    const full = source === 'false' ? null : await this.getWithSource(id);
    const record = full ?? (await this.get(id));
    const after = cursor === undefined ? undefined : decodeCursor(MatchCursor, cursor).m;
    const page = await this.retrohunts.matches(record.id, limit, after);
    const last = page.rows.at(-1);
    return {
      ...summaryView(record),
      ...(full === null ? {} : { source: full.source }),
      matches: page.rows.map((m) => ({
        sha256: m.sampleSha256,
        rule: m.rule,
        namespace: m.namespace,
        tags: m.tags,
        meta: m.meta,
        strings: m.strings,
      })),
      nextCursor: page.more && last !== undefined ? encodeCursor({ m: last.id }) : null,
    };
  }

  /** Stops a queued or running retrohunt: the batch in progress is dropped, what was recorded stays. */
  async cancel(id: string, principal: Principal): Promise<RetrohuntSummaryView> {
    const record = await this.get(id);
    const cancelled = await this.database.transaction(async (tx) => {
      const finished = await this.retrohunts.finish(record.id, 'cancelled', null, tx);
      if (finished === null) return null;
      await this.audit.append(
        {
          actorId: principal.tokenId,
          actorName: principal.name,
          action: 'retrohunt.cancel',
          targetType: 'retrohunt',
          targetId: record.id,
          details: { scanned: finished.scanned, total: finished.total },
        },
        tx,
      );
      return finished;
    });
    if (cancelled === null) {
      throw new SpecimenError('CONFLICT', `the retrohunt is already ${record.status}`, {
        status: (await this.get(id)).status,
      });
    }
    await this.dropRules(record.id);
    return summaryView(cancelled);
  }

  /**
   * Writes the compiled rules to `retrohuntRulesKey` for the scanner. The file is written before this
   * returns a promise (the rules may be destroyed then); a failure is only logged: the scanner compiles.
   */
  private storeRules(id: string, rules: YaraRules): Promise<void> {
    const temp = join(tmpdir(), `specimen-retrohunt-rules-${id}`);
    const key = retrohuntRulesKey(id, this.rulesTag);
    const put = async (): Promise<void> => {
      rules.save(temp);
      const { size } = await stat(temp);
      await this.store.put(key, createReadStream(temp), { size });
    };
    // save() runs synchronously inside put(), before its first await.
    return put()
      .catch((e: unknown) => this.logger.warn({ err: e }, `could not store retrohunt ${id}'s compiled rules`))
      .finally(() => rm(temp, { force: true }));
  }

  /**
   * Removes the compiled rules left for the scanner, if they are still there (the scanner removes them once
   * loaded), under every tag: another API replica may run another libyara. A failure is only logged: the
   * scanner's retrohunt-rules sweep removes them later.
   */
  private async dropRules(id: string): Promise<void> {
    await deletePrefix(this.store, retrohuntRulesPrefix(id)).catch((e: unknown) =>
      this.logger.warn({ err: e }, `could not remove retrohunt ${id}'s compiled rules`),
    );
  }

  private async get(id: string): Promise<RetrohuntSummaryRecord> {
    const record = UUID.test(id) ? await this.retrohunts.findSummary(id) : null;
    if (record === null) throw new SpecimenError('NOT_FOUND', 'no such retrohunt');
    return record;
  }

  private async getWithSource(id: string): Promise<RetrohuntRecord> {
    const record = UUID.test(id) ? await this.retrohunts.find(id) : null;
    if (record === null) throw new SpecimenError('NOT_FOUND', 'no such retrohunt');
    return record;
  }
}
