import { and, eq, inArray, isNull, lt, or, sql } from '../drizzle.js';
import type { Database } from '../database.js';
import { type UploadPart, uploads } from '../schema.js';

export type { UploadPart } from '../schema.js';

/** A resumable upload as the API sees it. */
export interface UploadRecord {
  id: string;
  createdBy: string;
  length: number;
  offset: number;
  parts: UploadPart[];
  metadata: Record<string, unknown>;
  rawMetadata: string;
  createdAt: Date;
  expiresAt: Date;
  completedAt: Date | null;
  submissionId: string | null;
  /** Set with `submissionId`: whether the bytes were a sample already stored. */
  duplicate: boolean | null;
}

/** State of resumable (tus) uploads; the parts themselves are objects under `uploads/<id>/`. */
export class UploadsRepository {
  constructor(private readonly database: Database) {}

  async create(input: {
    createdBy: string;
    length: number;
    metadata: Record<string, unknown>;
    rawMetadata: string;
    expiresAt: Date;
  }): Promise<UploadRecord> {
    const [row] = await this.database.db.insert(uploads).values(input).returning();
    if (row === undefined) throw new Error('insert returned no row');
    return row;
  }

  async find(id: string): Promise<UploadRecord | null> {
    const [row] = await this.database.db.select().from(uploads).where(eq(uploads.id, id));
    return row ?? null;
  }

  /**
   * Appends a stored part and moves the offset, only if the offset is still `from` and the upload has not
   * expired: of two requests racing for one offset exactly one wins. Null when this one lost. A part that
   * continues the last one in the same object (chunks streamed into one file) extends it instead, so the
   * list, rewritten at every chunk, stays short: it grew by one entry a chunk, quadratic in their number.
   */
  async appendPart(
    id: string,
    from: number,
    part: UploadPart,
    expiresAt: Date,
  ): Promise<UploadRecord | null> {
    const [row] = await this.database.db
      .update(uploads)
      .set({
        offset: from + part.size,
        parts: sql`case
          when ${uploads.parts} -> -1 ->> 'key' = ${part.key}
            and (${uploads.parts} -> -1 ->> 'offset')::bigint + (${uploads.parts} -> -1 ->> 'size')::bigint = ${part.offset}
          then jsonb_set(${uploads.parts}, '{-1,size}', to_jsonb((${uploads.parts} -> -1 ->> 'size')::bigint + ${part.size}))
          else ${uploads.parts} || ${JSON.stringify([part])}::jsonb
        end`,
        expiresAt,
      })
      .where(and(eq(uploads.id, id), eq(uploads.offset, from), sql`${uploads.expiresAt} > now()`))
      .returning();
    return row ?? null;
  }

  /**
   * Claims the finish of an upload whose every byte is in, so that one request (at any replica) turns it
   * into a submission: `completed_at` is set while `submission_id` stays null until {@link complete}.
   * A claim older than `staleBefore` (its process died mid-finish) may be taken over. Null when another
   * request holds the claim, the upload is not fully received, finished already, or gone.
   */
  async claimFinish(id: string, staleBefore: Date): Promise<UploadRecord | null> {
    const [row] = await this.database.db
      .update(uploads)
      .set({ completedAt: new Date() })
      .where(
        and(
          eq(uploads.id, id),
          sql`${uploads.offset} = ${uploads.length}`,
          isNull(uploads.submissionId),
          or(isNull(uploads.completedAt), lt(uploads.completedAt, staleBefore)),
        ),
      )
      .returning();
    return row ?? null;
  }

  /** Gives up a claim of {@link claimFinish} whose finish failed, so a retry may finish the upload. */
  async releaseFinish(id: string): Promise<void> {
    await this.database.db
      .update(uploads)
      .set({ completedAt: null })
      .where(and(eq(uploads.id, id), isNull(uploads.submissionId)));
  }

  /** Records the submission a finished upload became; its parts are gone by then. */
  async complete(id: string, submissionId: string, duplicate: boolean): Promise<void> {
    await this.database.db
      .update(uploads)
      .set({ completedAt: new Date(), submissionId, duplicate, parts: [] })
      .where(eq(uploads.id, id));
  }

  /** Which of `ids` (UUIDs) are uploads with a row. */
  async existing(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.database.db
      .select({ id: uploads.id })
      .from(uploads)
      .where(inArray(uploads.id, [...ids]));
    return new Set(rows.map((r) => r.id));
  }

  /** Deletes the row; true when it existed. */
  async delete(id: string): Promise<boolean> {
    const rows = await this.database.db
      .delete(uploads)
      .where(eq(uploads.id, id))
      .returning({ id: uploads.id });
    return rows.length > 0;
  }

  /**
   * Deletes up to `limit` rows that expired before `before` and returns their ids, so the caller removes
   * their parts: a PATCH still in flight then loses its conditional update and removes its own part.
   */
  async deleteExpired(before: Date, limit: number): Promise<string[]> {
    const expired = this.database.db
      .select({ id: uploads.id })
      .from(uploads)
      .where(lt(uploads.expiresAt, before))
      .limit(limit);
    const rows = await this.database.db
      .delete(uploads)
      // Checked again on the row itself: a chunk that moved the expiry on while this waited for the row's
      // lock keeps it (the subquery's answer is not re-read then, only the row's own columns).
      .where(and(sql`${uploads.id} in (${expired})`, lt(uploads.expiresAt, before)))
      .returning({ id: uploads.id });
    return rows.map((r) => r.id);
  }
}
