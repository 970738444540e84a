import type { Database, Executor } from '../database.js';
import { and, desc, eq, gte, lt, or } from '../drizzle.js';
import { auditLog } from '../schema.js';
import { afterMillisecond } from './time-bounds.js';

export interface AuditEntry {
  /** Token id of the actor; null for the system. */
  actorId: string | null;
  actorName: string;
  /** Dotted verb, e.g. `token.create`, `sample.download`, `ruleset.activate`. */
  action: string;
  targetType: string;
  targetId?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditEntry> {
  id: number;
  at: Date;
}

export interface AuditFilter {
  actorName?: string;
  /** A token id or a name (a name may look like an id): records of either. */
  actorIdOrName?: string;
  action?: string;
  from?: Date;
  /** Up to and including the millisecond it names (see afterMillisecond). */
  to?: Date;
  /** Records with an id below this one (cursor for newest-first paging). */
  before?: number;
  limit: number;
}

/** {@link AuditRepository.appendCommitted}'s statement: fixed text, one array per column, prepared once per connection. */
const APPEND = `insert into audit_log (actor_id, actor_name, action, target_type, target_id, details)
  select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
  returning id`;

export class AuditRepository {
  constructor(private readonly database: Database) {}

  /** Appends one record; pass the transaction when the audited change must commit with it. */
  async append(entry: AuditEntry, executor: Executor = this.database.db): Promise<number> {
    const [id] = await this.appendMany([entry], executor);
    if (id === undefined) throw new Error('insert returned no row');
    return id;
  }

  /**
   * Appends records in one statement (so, outside a transaction, one commit for all): their ids, in the
   * order given.
   */
  async appendMany(entries: readonly AuditEntry[], executor: Executor = this.database.db): Promise<number[]> {
    if (entries.length === 0) return [];
    const rows = await executor
      .insert(auditLog)
      .values(entries.map((e) => ({ ...e, targetId: e.targetId ?? null, details: e.details ?? {} })))
      .returning({ id: auditLog.id });
    if (rows.length !== entries.length) {
      throw new Error(`insert returned ${rows.length} rows for ${entries.length} records`);
    }
    // The ids are drawn in the order of the values; RETURNING's row order is not promised.
    return rows.map((r) => r.id).sort((a, b) => a - b);
  }

  /**
   * {@link appendMany} outside any transaction (each call commits on its own), as one prepared statement:
   * for the records written on a hot path, downloads. The query builder's insert cost the API 0.35–0.53 ms
   * of CPU a call, this 0.17–0.21.
   */
  async appendCommitted(entries: readonly AuditEntry[]): Promise<number[]> {
    if (entries.length === 0) return [];
    const { rows } = await this.database.rawQuery<{ id: string }>({
      name: 'audit.appendCommitted',
      text: APPEND,
      values: [
        entries.map((e) => e.actorId),
        entries.map((e) => e.actorName),
        entries.map((e) => e.action),
        entries.map((e) => e.targetType),
        entries.map((e) => e.targetId ?? null),
        entries.map((e) => JSON.stringify(e.details ?? {})),
      ],
    });
    if (rows.length !== entries.length) {
      throw new Error(`insert returned ${rows.length} rows for ${entries.length} records`);
    }
    return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  }

  /** Newest first. */
  async list(filter: AuditFilter): Promise<AuditRecord[]> {
    const conditions = [
      filter.actorName === undefined ? undefined : eq(auditLog.actorName, filter.actorName),
      filter.actorIdOrName === undefined
        ? undefined
        : or(
            eq(auditLog.actorId, filter.actorIdOrName.toLowerCase()),
            eq(auditLog.actorName, filter.actorIdOrName),
          ),
      filter.action === undefined ? undefined : eq(auditLog.action, filter.action),
      filter.from === undefined ? undefined : gte(auditLog.at, filter.from),
      filter.to === undefined ? undefined : lt(auditLog.at, afterMillisecond(filter.to)),
      filter.before === undefined ? undefined : lt(auditLog.id, filter.before),
    ].filter((c) => c !== undefined);
    const rows = await this.database.db
      .select()
      .from(auditLog)
      .where(conditions.length === 0 ? undefined : and(...conditions))
      .orderBy(desc(auditLog.id))
      .limit(filter.limit);
    return rows.map((r) => ({ ...r, targetId: r.targetId ?? null }));
  }
}
