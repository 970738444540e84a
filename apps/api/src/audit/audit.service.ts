import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { AuditQuery, type AuditView, type Page, UUID } from '#contracts';
import { AuditRepository } from '#database';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { parseOrThrow } from '../http/validation.js';

const AuditCursor = z.strictObject({ b: z.number().int().positive() });

@Injectable()
export class AuditService {
  constructor(@Inject(AuditRepository) private readonly audit: AuditRepository) {}

  /** Newest first; ids only grow, so paging by id never skips or repeats a record. */
  async list(query: unknown): Promise<Page<AuditView>> {
    const q = parseOrThrow(AuditQuery, query, 'query');
    const before = q.cursor === undefined ? undefined : decodeCursor(AuditCursor, q.cursor).b;
    // A token's name may itself look like a token id: such a value matches either.
    const actor =
      q.actor === undefined ? {} : UUID.test(q.actor) ? { actorIdOrName: q.actor } : { actorName: q.actor };
    const rows = await this.audit.list({
      ...actor,
      ...(q.action === undefined ? {} : { action: q.action }),
      ...(q.from === undefined ? {} : { from: q.from }),
      ...(q.to === undefined ? {} : { to: q.to }),
      ...(before === undefined ? {} : { before }),
      limit: q.limit + 1,
    });
    const shown = rows.slice(0, q.limit);
    const last = shown.at(-1);
    return {
      items: shown.map((r) => ({ ...r, at: r.at.toISOString() })),
      nextCursor: rows.length > q.limit && last !== undefined ? encodeCursor({ b: last.id }) : null,
    };
  }
}
