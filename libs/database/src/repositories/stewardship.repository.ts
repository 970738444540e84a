import type { SQL } from 'drizzle-orm';
import { pseudonym } from '#config';
import { sql } from '../drizzle.js';
import type { Database, Executor } from '../database.js';

/** What one batch of a purge or a retention sweep removed. */
export interface BatchOutcome {
  /** Samples the batch looked at; 0 means there is nothing left to do. */
  samples: number;
  submissionsDeleted: number;
  samplesDeleted: number;
  /** Shared samples that stay, their sightings count lowered. */
  samplesKept: number;
}

/** A statistics dimension: what a submission is grouped by. */
export type StatsDimension = 'total' | 'kind' | 'verdict' | 'country' | 'productVersion' | 'rule';

export const STATS_DIMENSIONS: readonly StatsDimension[] = [
  'total',
  'kind',
  'verdict',
  'country',
  'productVersion',
  'rule',
];

/** The cell of a dimension that holds every value built from fewer than k agents. */
export const OTHER = '(other)';

/** One stored statistics cell. */
export interface StatsCell {
  day: string;
  dimension: StatsDimension;
  value: string;
  submissions: number;
  agents: number;
}

// The value of each dimension for one submission row of `base` below. Constant SQL, never user input.
const VALUE: Record<StatsDimension, string> = {
  total: `'all'`,
  kind: 'u.kind',
  verdict: 'u.verdict',
  country: 'u.country',
  productVersion: 'u.product_version',
  rule: 'u.rule',
};

/**
 * Hashes, dates, numbers and object keys as one text parameter, split by the statement: never free text,
 * which may hold U+001F itself (values of a statistics dimension go as a text[] parameter).
 */
const csv = (values: string[]): string => values.join('\u001f');

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The class of the advisory locks on object keys (`pg_advisory_xact_lock(OBJECT_KEY_LOCK, hashtext(key))`,
 * a key space apart from the one-key locks of the roll-ups): held by an upload's write of a sample row and by
 * the tombstone drain of that key, so the drain's "no row refers to it, delete it" never straddles a commit.
 */
export const OBJECT_KEY_LOCK = 0x5350;

/**
 * {@link StewardshipRepository.objectInUse}'s query (exported for its plan test). A sample's object key is
 * content-addressed, ending in its sha256, and `object_key` has no index of its own: the row is probed by its
 * primary key, not looked for by reading every sample once per tombstone (a purge drains thousands).
 */
export function objectInUseQuery(key: string): SQL {
  const sha256 = key.slice(key.lastIndexOf('/') + 1);
  return SHA256_HEX.test(sha256)
    ? sql`select 1 from samples where sha256 = ${sha256} and object_key = ${key} limit 1`
    : sql`select 1 from samples where object_key = ${key} limit 1`;
}

/**
 * How the statistics name the agent of submission `s` on a day with removed submissions (a `stats_salts`
 * row `st`; keepInStats copies the removed ones, and the roll-up must name the remaining ones of the same
 * agent alike): a hash of its pseudonym under the day's `secret`, else the pseudonym; 'unknown' without a
 * submitter. One expression for both, as distinct-agent counts rely on them agreeing.
 *
 * The day's secret is derived from PSEUDONYM_KEY ({@link statsDaySecret}) and never stored, so a row of
 * `stats_removed` cannot be tied to an agent from the database alone. Days that got a random salt before
 * migration 0026 keep their salted md5 until they are final (two days at most), then the salt goes.
 */
function statsAgent(secret: SQL): SQL {
  return sql`coalesce('removed:' || case
             when st.day is null then null
             when st.salt is not null then md5(st.salt::text || s.submitter)
             else encode(sha256(convert_to(${secret} || s.submitter, 'UTF8')), 'hex') end,
           s.submitter, 'unknown')`;
}

/** The secret naming agents in one day's statistics of removed submissions ({@link statsAgent}). */
function statsDaySecret(key: string, day: string): string {
  // The keyed HMAC-SHA256 that makes pseudonyms, of another message.
  return pseudonym(key, `stats-removed:${day}`);
}

/**
 * Raw-data destruction for the data-stewardship promises: the consent purge, the retention sweep, the
 * tombstones of objects to delete, and the statistics roll-ups that outlive the raw rows.
 */
export class StewardshipRepository {
  constructor(
    private readonly database: Database,
    /** PSEUDONYM_KEY: the day secrets of removed submissions' statistics derive from it. */
    private readonly pseudonymKey: string,
  ) {}

  /**
   * Pseudonyms of the agents whose consent is withdrawn and who still have submissions from before the
   * withdrawal.
   */
  async agentsToPurge(limit: number): Promise<string[]> {
    const result = await this.database.db.execute<{ id: string }>(
      sql`select a.pseudonym as id from agents a
          where a.consent_revoked_at is not null and exists (
            select 1 from submissions s
            where s.submitter = a.pseudonym and s.received_at <= a.consent_revoked_at)
          order by a.consent_revoked_at limit ${limit}`,
    );
    return result.rows.map((r) => r.id);
  }

  /** UTC days of the submissions of the agent (by pseudonym) that its purge will remove. */
  async purgeDays(agent: string): Promise<string[]> {
    const result = await this.database.db.execute<{ day: string }>(
      sql`select distinct to_char(s.received_at at time zone 'UTC', 'YYYY-MM-DD') as day
          from submissions s join agents a on a.pseudonym = s.submitter
          where a.pseudonym = ${agent} and a.consent_revoked_at is not null
            and s.received_at <= a.consent_revoked_at`,
    );
    return result.rows.map((r) => r.day);
  }

  /**
   * One transaction: up to `batchSize` samples the agent submitted before withdrawing lose its
   * submissions; those nobody else submitted are deleted (scans and matches cascade) and their objects
   * recorded as tombstones, the others keep their rows with fewer sightings and the first and last seen
   * times of the sightings that stay.
   */
  async purgeBatch(agent: string, batchSize: number): Promise<BatchOutcome> {
    return this.database.transaction(async (tx) => {
      const mine = sql`from submissions s join agents a on a.pseudonym = s.submitter
          where a.pseudonym = ${agent} and a.consent_revoked_at is not null and s.received_at <= a.consent_revoked_at`;
      const picked = await tx.execute<{ sha256: string }>(
        sql`select distinct s.sample_sha256 as sha256 ${mine} order by 1 limit ${batchSize}`,
      );
      const shas = picked.rows.map((r) => r.sha256);
      if (shas.length === 0) return { samples: 0, submissionsDeleted: 0, samplesDeleted: 0, samplesKept: 0 };
      const inBatch = sql`any(string_to_array(${csv(shas)}, E'\\x1f')::bpchar[])`;
      // Lock the samples first, in one order, so a concurrent sighting waits instead of interleaving.
      await tx.execute(sql`select 1 from samples where sha256 = ${inBatch} order by sha256 for update`);
      await this.keepInStats(tx, sql`s.id in (select s.id ${mine} and s.sample_sha256 = ${inBatch})`);
      const removed = await tx.execute<{ sha256: string; n: number }>(
        sql`select s.sample_sha256 as sha256, count(*)::int as n ${mine} and s.sample_sha256 = ${inBatch}
            group by 1`,
      );
      // The samples nobody else sent go first, their submissions with them (cascade); then the agent's
      // submissions of the samples that stay. Deleting all of the agent's submissions first made the
      // countries trigger (migration 0014) rewrite every sample of the batch, those deleted next included.
      const orphans = await tx.execute<{ sha256: string; object_key: string }>(
        sql`delete from samples where sha256 = ${inBatch}
              and not exists (select 1 from submissions x where x.sample_sha256 = samples.sha256
                                and x.id not in (select s.id ${mine} and s.sample_sha256 = samples.sha256))
            returning sha256, object_key`,
      );
      await this.tombstone(
        tx,
        orphans.rows.map((r) => r.object_key),
      );
      const deleted = new Set(orphans.rows.map((r) => r.sha256));
      const kept = removed.rows.filter((r) => !deleted.has(r.sha256));
      if (kept.length > 0) {
        await tx.execute(
          sql`delete from submissions where id in (select s.id ${mine} and s.sample_sha256 = ${inBatch})`,
        );
        await tx.execute(
          // First and last seen come from the sightings that stay: the withdrawn agent's times go too.
          sql`update samples set sightings = greatest(1, sightings - d.n),
                first_seen = coalesce((select min(x.received_at) from submissions x
                                        where x.sample_sha256 = samples.sha256), samples.first_seen),
                last_seen = coalesce((select max(x.received_at) from submissions x
                                       where x.sample_sha256 = samples.sha256), samples.last_seen)
              from (select unnest(string_to_array(${csv(kept.map((r) => r.sha256))}, E'\\x1f'))::bpchar as sha256,
                           unnest(string_to_array(${csv(kept.map((r) => String(r.n)))}, E'\\x1f'))::int as n) d
              where samples.sha256 = d.sha256`,
        );
      }
      return {
        samples: shas.length,
        submissionsDeleted: removed.rows.reduce((sum, r) => sum + r.n, 0),
        samplesDeleted: deleted.size,
        samplesKept: kept.length,
      };
    });
  }

  /**
   * Copies what the roll-ups group by from the submissions about to be deleted (`where`, on `submissions s`)
   * whose day is not final into `stats_removed`, in the deleting transaction, so a roll-up counts each of
   * them once, raw or removed, and the day need not be frozen before it is over. Holds each day's roll-up
   * lock shared, so a roll-up making the day final (exclusive) does not interleave with it.
   */
  private async keepInStats(tx: Executor, where: SQL): Promise<void> {
    const days = await tx.execute<{ day: string }>(
      // Days made final already are left out here (a day never stops being final): the retention sweep's
      // old days are, so it does no more than this query.
      sql`select distinct to_char(s.received_at at time zone 'UTC', 'YYYY-MM-DD') as day
          from submissions s where ${where}
            and not exists (select 1 from stats_days f
                            where f.final and f.day = (s.received_at at time zone 'UTC')::date)
          order by 1`,
    );
    if (days.rows.length === 0) return;
    for (const { day } of days.rows) {
      await tx.execute(sql`select pg_advisory_xact_lock_shared(hashtext(${`stats:${day}`}))`);
    }
    await tx.execute(
      sql`insert into stats_salts (day)
          select d from unnest(string_to_array(${csv(days.rows.map((r) => r.day))}, E'\\x1f')::date[]) d
          where not exists (select 1 from stats_days f where f.day = d and f.final)
          on conflict do nothing`,
    );
    await tx.execute(
      sql`insert into stats_removed (day, kind, verdict, country, product_version, agent, rules)
          select st.day, s.kind, coalesce(sm.verdict, nullif(sm.scan_status, 'scanned'), 'pending'), coalesce(s.country, 'unknown'),
                 coalesce(s.product_version, 'unknown'),
                 ${statsAgent(sql.raw('k.secret'))},
                 array(select m.rule from matches m where m.scan_id = sm.latest_scan_id and not m.noisy)
          from submissions s join samples sm on sm.sha256 = s.sample_sha256
          join stats_salts st on st.day = (s.received_at at time zone 'UTC')::date
          join unnest(string_to_array(${csv(days.rows.map((r) => r.day))}, E'\\x1f')::date[],
                      string_to_array(${csv(days.rows.map((r) => statsDaySecret(this.pseudonymKey, r.day)))}, E'\\x1f'))
               as k(day, secret) on k.day = st.day
          where ${where} and not exists (select 1 from stats_days f where f.day = st.day and f.final)`,
    );
  }

  private async tombstone(tx: Executor, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await tx.execute(
      sql`insert into object_tombstones (object_key)
          select unnest(string_to_array(${csv(keys)}, E'\\x1f')) on conflict do nothing`,
    );
  }

  /** UTC days of the submissions of samples last sighted before `cutoff`. */
  async expiredDays(cutoff: Date): Promise<string[]> {
    const result = await this.database.db.execute<{ day: string }>(
      sql`select distinct to_char(s.received_at at time zone 'UTC', 'YYYY-MM-DD') as day
          from submissions s join samples sm on sm.sha256 = s.sample_sha256
          where sm.last_seen < ${cutoff.toISOString()}::timestamptz`,
    );
    return result.rows.map((r) => r.day);
  }

  /**
   * One transaction: up to `batchSize` samples last sighted before `cutoff` are deleted with their
   * submissions, scans and matches; their objects become tombstones.
   */
  async retentionBatch(cutoff: Date, batchSize: number): Promise<BatchOutcome> {
    return this.database.transaction(async (tx) => {
      const picked = await tx.execute<{ sha256: string }>(
        sql`select sha256 from samples where last_seen < ${cutoff.toISOString()}::timestamptz
            order by last_seen limit ${batchSize} for update skip locked`,
      );
      const shas = picked.rows.map((r) => r.sha256);
      if (shas.length === 0) return { samples: 0, submissionsDeleted: 0, samplesDeleted: 0, samplesKept: 0 };
      const inBatch = sql`any(string_to_array(${csv(shas)}, E'\\x1f')::bpchar[])`;
      await this.keepInStats(tx, sql`s.sample_sha256 = ${inBatch}`);
      // The samples go first and take their submissions with them (cascade), so those are counted before.
      // Deleting the submissions first made the countries trigger (migration 0014) rewrite every sample of
      // the batch one statement before its delete: a wasted non-HOT update of each row. After the cascade
      // the trigger finds none of them. The locks taken above keep the count and the cascade the same rows.
      const subs = await tx.execute<{ n: number }>(
        sql`select count(*)::int as n from submissions where sample_sha256 = ${inBatch}`,
      );
      // Finished resumable uploads of these samples: their rows (metadata, the key that sent them) would
      // outlive the sample until they expire (RESUMABLE_EXPIRY_SECONDS), and HEAD would still describe them.
      await tx.execute(
        sql`delete from uploads
            where submission_id in (select id from submissions where sample_sha256 = ${inBatch})`,
      );
      const deleted = await tx.execute<{ object_key: string }>(
        sql`delete from samples where sha256 = ${inBatch} returning object_key`,
      );
      await this.tombstone(
        tx,
        deleted.rows.map((r) => r.object_key),
      );
      return {
        samples: shas.length,
        submissionsDeleted: subs.rows[0]?.n ?? 0,
        samplesDeleted: deleted.rows.length,
        samplesKept: 0,
      };
    });
  }

  /**
   * Forgets up to `limit` idempotency keys first used before `before` (their submissions stay): a retry
   * carrying one of them is a new upload again. Returns how many were deleted.
   */
  async expireIdempotencyKeys(before: Date, limit: number): Promise<number> {
    const result = await this.database.db.execute(
      sql`with gone as (
            select submitter, key from idempotency_keys
            where created_at < ${before.toISOString()}::timestamptz
            limit ${limit}
            for update skip locked
          )
          delete from idempotency_keys k using gone
          where k.submitter = gone.submitter and k.key = gone.key
          returning 1`,
    );
    return result.rows.length;
  }

  /**
   * Forgets up to `limit` agents revoked before `cutoff` of whom nothing remains: their rows (product, OS,
   * country, consent) go, and their keys' rows with them (cascade), so nothing links their pseudonym back
   * to an installation any more. An agent still named by a submission (as its submitter) or by a resumable
   * upload of one of its keys stays: the consent purge and an administrator's withdrawal find it by its row.
   * A revoked key never works again, so nothing new can name the agent once it is picked. Returns how many
   * were deleted.
   */
  async forgetRevokedAgents(cutoff: Date, limit: number): Promise<number> {
    const result = await this.database.db.execute<{ id: string }>(
      sql`with gone as (
            select a.id from agents a
            where a.revoked_at < ${cutoff.toISOString()}::timestamptz
              and not exists (select 1 from submissions s where s.submitter = a.pseudonym)
              and not exists (select 1 from uploads u join api_tokens t on t.id = u.created_by
                              where t.agent_id = a.id)
            order by a.revoked_at
            limit ${limit}
            for update of a skip locked
          )
          delete from agents where id in (select id from gone) returning id`,
    );
    return result.rows.length;
  }

  /**
   * Ids of the resumable uploads (tus) the agent (by pseudonym) started with its keys before withdrawing:
   * their rows hold the (scrubbed) metadata and name the key, and their parts the bytes.
   */
  async agentUploads(agent: string, limit: number): Promise<string[]> {
    const result = await this.database.db.execute<{ id: string }>(
      sql`select u.id from uploads u
          join api_tokens t on t.id = u.created_by
          join agents a on a.id = t.agent_id
          where a.pseudonym = ${agent} and a.consent_revoked_at is not null
            and u.created_at <= a.consent_revoked_at
          order by u.id limit ${limit}`,
    );
    return result.rows.map((r) => r.id);
  }

  /** Object keys waiting to be deleted from storage. */
  async tombstones(limit: number): Promise<string[]> {
    const result = await this.database.db.execute<{ object_key: string }>(
      sql`select object_key from object_tombstones order by created_at limit ${limit}`,
    );
    return result.rows.map((r) => r.object_key);
  }

  /** Whether a sample row (a new upload of the same bytes) refers to the key again. */
  async objectInUse(key: string): Promise<boolean> {
    const result = await this.database.db.execute(objectInUseQuery(key));
    return result.rows.length > 0;
  }

  /**
   * Drains one tombstone in one transaction under the key's lock: unless a sample row refers to the key
   * again, `deleteObject` deletes it (before the commit, so an upload writing a row for the key waits and
   * then finds it gone); then the tombstone goes. Returns whether the object was deleted.
   */
  async drainTombstone(key: string, deleteObject: () => Promise<void>): Promise<boolean> {
    return this.database.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${OBJECT_KEY_LOCK}, hashtext(${key}))`);
      const inUse = (await tx.execute(objectInUseQuery(key))).rows.length > 0;
      if (!inUse) await deleteObject();
      await tx.execute(sql`delete from object_tombstones where object_key = ${key}`);
      return !inUse;
    });
  }

  // ---- statistics roll-ups ----

  /** Days with raw submissions whose roll-up is not final yet. */
  async openDays(): Promise<string[]> {
    // One index probe per calendar day since the oldest submission, instead of reading every row.
    const result = await this.database.db.execute<{ day: string }>(
      sql`select to_char(d, 'YYYY-MM-DD') as day
          from generate_series(
            least((select (min(received_at) at time zone 'UTC')::date from submissions),
                  (select min(day) from stats_removed)),
            (now() at time zone 'UTC')::date, interval '1 day') as d
          where not exists (select 1 from stats_days f where f.final and f.day = d::date)
            and (exists (select 1 from submissions s
                         where s.received_at >= (d::date::text || 'T00:00:00Z')::timestamptz
                           and s.received_at < (d::date::text || 'T00:00:00Z')::timestamptz + interval '1 day')
                 or exists (select 1 from stats_removed r where r.day = d::date))
          order by d`,
    );
    return result.rows.map((r) => r.day);
  }

  /** The days among `days` whose roll-up is final (never recomputed). */
  async finalDays(days: string[]): Promise<Set<string>> {
    if (days.length === 0) return new Set();
    const result = await this.database.db.execute<{ day: string }>(
      sql`select to_char(day, 'YYYY-MM-DD') as day from stats_days
          where final and day = any(string_to_array(${csv(days)}, E'\\x1f')::date[])`,
    );
    return new Set(result.rows.map((r) => r.day));
  }

  /**
   * Recomputes one day's roll-up from raw rows and replaces the stored one, in one transaction. Per
   * dimension, values seen by fewer than `k` distinct agents are suppressed; while the suppressed values
   * together have fewer than `k` distinct agents, the next smallest value is suppressed too, so that the
   * `(other)` cell (or, when every value is suppressed, nothing) can be published and the day total minus
   * the published cells reveals no cell under k.
   */
  async rollupDay(day: string, k: number, final: boolean): Promise<number> {
    return this.database.transaction(async (tx) => {
      // Serialises roll-ups of one day (scheduled job, purge and sweep can meet on it).
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`stats:${day}`}))`);
      const done = await tx.execute(sql`select 1 from stats_days where day = ${day}::date and final`);
      if (done.rows.length > 0) return 0;
      const cells: StatsCell[] = [];
      for (const dimension of STATS_DIMENSIONS)
        cells.push(...(await this.dimensionCells(tx, day, dimension, k)));
      await tx.execute(sql`delete from stats_daily where day = ${day}::date`);
      for (const c of cells) {
        await tx.execute(
          sql`insert into stats_daily (day, dimension, value, submissions, agents)
              values (${day}::date, ${c.dimension}, ${c.value}, ${c.submissions}, ${c.agents})`,
        );
      }
      await tx.execute(
        sql`insert into stats_days (day, rolled_at, final, k) values (${day}::date, now(), ${final}, ${k})
            on conflict (day) do update set rolled_at = now(), final = excluded.final, k = excluded.k`,
      );
      if (final) {
        // Counted for good: what was kept of removed submissions, and the salt of their agents, go.
        await tx.execute(sql`delete from stats_removed where day = ${day}::date`);
        await tx.execute(sql`delete from stats_salts where day = ${day}::date`);
      }
      return cells.length;
    });
  }

  /** One day's submissions, raw and removed ({@link keepInStats}), with the dimension's value. */
  private base(day: string, dimension: StatsDimension): SQL {
    const from = `${day}T00:00:00Z`;
    const rule = dimension === 'rule';
    const raw = sql`select s.id::text as id, s.kind, coalesce(sm.verdict, nullif(sm.scan_status, 'scanned'), 'pending') as verdict,
               coalesce(s.country, 'unknown') as country,
               coalesce(s.product_version, 'unknown') as product_version,
               -- Named as keepInStats names the removed rows of the day, when there are any (a salt): an
               -- agent with removed and remaining submissions is one agent.
               ${statsAgent(sql`${statsDaySecret(this.pseudonymKey, day)}::text`)} as agent,
               ${rule ? sql.raw('m.rule') : sql.raw('null::text')} as rule
        from submissions s join samples sm on sm.sha256 = s.sample_sha256
        left join stats_salts st on st.day = ${day}::date
        ${rule ? sql.raw('join matches m on m.scan_id = sm.latest_scan_id and not m.noisy') : sql``}
        where s.received_at >= ${from}::timestamptz and s.received_at < ${from}::timestamptz + interval '1 day'`;
    const removed = sql`select 'removed:' || r.id as id, r.kind, r.verdict, r.country, r.product_version,
               r.agent, ${rule ? sql.raw('x.rule') : sql.raw('null::text')} as rule
        from stats_removed r ${rule ? sql.raw('cross join unnest(r.rules) as x(rule)') : sql``}
        where r.day = ${day}::date`;
    return sql`(select u.*, ${sql.raw(VALUE[dimension])} as value from (${raw} union all ${removed}) u) x`;
  }

  private async dimensionCells(
    tx: Executor,
    day: string,
    dimension: StatsDimension,
    k: number,
  ): Promise<StatsCell[]> {
    const grouped = await tx.execute<{ value: string; submissions: number; agents: number }>(
      sql`select value, count(distinct id)::int as submissions, count(distinct agent)::int as agents
          from ${this.base(day, dimension)} group by value order by agents, value`,
    );
    const rows = grouped.rows;
    const suppressed = new Set(rows.filter((r) => r.agents < k).map((r) => r.value));
    let other = { submissions: 0, agents: 0 };
    if (suppressed.size > 0) {
      for (;;) {
        const union = await tx.execute<{ submissions: number; agents: number }>(
          sql`select count(distinct id)::int as submissions, count(distinct agent)::int as agents
              from ${this.base(day, dimension)}
              where value = any(${sql.param([...suppressed])}::text[])`,
        );
        other = union.rows[0] ?? other;
        const next = rows.find((r) => !suppressed.has(r.value));
        if (other.agents >= k || next === undefined) break;
        suppressed.add(next.value);
      }
    }
    const cells: StatsCell[] = rows
      .filter((r) => !suppressed.has(r.value))
      .map((r) => ({ day, dimension, value: r.value, submissions: r.submissions, agents: r.agents }));
    if (suppressed.size > 0 && other.agents >= k) {
      cells.push({ day, dimension, value: OTHER, submissions: other.submissions, agents: other.agents });
    }
    return cells;
  }

  /** Stored cells of one dimension between two UTC days (inclusive). */
  async cells(dimension: StatsDimension, from: string, to: string): Promise<StatsCell[]> {
    const result = await this.database.db.execute<{
      day: string;
      value: string;
      submissions: number;
      agents: number;
    }>(
      sql`select to_char(day, 'YYYY-MM-DD') as day, value, submissions, agents from stats_daily
          where dimension = ${dimension} and day between ${from}::date and ${to}::date
          order by day, submissions desc, value`,
    );
    return result.rows.map((r) => ({ ...r, dimension }));
  }
}
