import { Inject, Injectable, Logger } from '@nestjs/common';
import { RetrohuntsRepository } from '#database';
import {
  OBJECT_STORE,
  type ObjectInfo,
  type ObjectStore,
  RETROHUNT_RULES_PREFIX,
  retrohuntOfRulesKey,
} from '#storage';

/**
 * How old stored rules of no retrohunt must be before the sweep removes them. The API stores a retrohunt's
 * rules while it commits the retrohunt's row, so for a moment they name a retrohunt that does not exist
 * yet; an hour is far beyond any create request.
 */
export const RETROHUNT_RULES_GRACE_MS = 3_600_000;
/** Retrohunts looked up in one query. */
const LOOKUP_BATCH = 500;

export interface RetrohuntRulesSweepCounts {
  /** Objects under `retrohunt-rules/`. */
  listed: number;
  removed: number;
  kept: number;
}

/**
 * Removes retrohunts' compiled rules that nobody will load or remove: those of a retrohunt that is over
 * (done, cancelled, failed), and those of no retrohunt (an API that crashed between storing them and
 * committing the row, or a name that is no retrohunt's) once older than {@link RETROHUNT_RULES_GRACE_MS}.
 * Rules of a queued or running retrohunt stay, whatever their age or tag: its end removes them. Catches what
 * the removal at the end misses (rules stored after it, a removal that failed). One listing of one folder
 * when there is nothing to do; the database is asked only about retrohunts that have stored rules.
 */
@Injectable()
export class RetrohuntRulesSweep {
  private readonly logger = new Logger(RetrohuntRulesSweep.name);

  constructor(
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(RetrohuntsRepository) private readonly retrohunts: RetrohuntsRepository,
  ) {}

  async handle(): Promise<RetrohuntRulesSweepCounts> {
    const now = Date.now();
    // The whole listing first: no driver walks a listing while it changes.
    const objects: ObjectInfo[] = [];
    for await (const object of this.store.list(RETROHUNT_RULES_PREFIX)) objects.push(object);
    const removed: string[] = [];
    for (let i = 0; i < objects.length; i += LOOKUP_BATCH) {
      const chunk = objects.slice(i, i + LOOKUP_BATCH).map((o) => ({ ...o, id: retrohuntOfRulesKey(o.key) }));
      const ids = [...new Set(chunk.flatMap((o) => (o.id === null ? [] : [o.id])))];
      const statuses = await this.retrohunts.statuses(ids);
      for (const object of chunk) {
        const status = object.id === null ? undefined : statuses.get(object.id);
        const remove =
          status === undefined
            ? now - object.lastModified.getTime() > RETROHUNT_RULES_GRACE_MS
            : status !== 'queued' && status !== 'running';
        if (!remove) continue;
        await this.store.delete(object.key);
        removed.push(object.key);
      }
    }
    const counts = { listed: objects.length, removed: removed.length, kept: objects.length - removed.length };
    if (removed.length > 0) {
      this.logger.log(
        `retrohunt-rules sweep: removed ${removed.length}, kept ${counts.kept}: ${removed.join(', ')}`,
      );
    }
    return counts;
  }
}
