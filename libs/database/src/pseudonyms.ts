import type pg from 'pg';

import { pseudonym } from '#config';

const BATCH = 5000;

/**
 * Converts rows written before migration 0009 to keyed pseudonyms, which SQL cannot compute without the
 * key: every agent gets its `pseudonym`, and every submission that still names its token in
 * `submitted_by` gets `submitter` (the agent's pseudonym for an agent key, the token's own for a person)
 * and loses the token id. Runs at start-up under the migration lock, in batches; a no-op once done.
 * Returns how many agents and submissions it converted.
 */
export async function backfillPseudonyms(
  client: pg.Client,
  key: string,
): Promise<{ agents: number; submissions: number }> {
  const done = { agents: 0, submissions: 0 };
  for (;;) {
    const { rows } = await client.query<{ id: string }>(
      'select id from agents where pseudonym is null limit $1',
      [BATCH],
    );
    if (rows.length === 0) break;
    await client.query(
      `update agents set pseudonym = d.p from unnest($1::uuid[], $2::text[]) as d(id, p) where agents.id = d.id`,
      [rows.map((r) => r.id), rows.map((r) => pseudonym(key, r.id))],
    );
    done.agents += rows.length;
  }
  for (;;) {
    const { rows } = await client.query<{ id: string; token: string; agent: string | null }>(
      `select s.id, s.submitted_by as token, t.agent_id as agent
         from submissions s left join api_tokens t on t.id = s.submitted_by
        where s.submitted_by is not null limit $1`,
      [BATCH],
    );
    if (rows.length === 0) break;
    await client.query(
      `update submissions set submitter = d.p, submitted_by = null
         from unnest($1::uuid[], $2::text[]) as d(id, p) where submissions.id = d.id`,
      [rows.map((r) => r.id), rows.map((r) => pseudonym(key, r.agent ?? r.token))],
    );
    done.submissions += rows.length;
  }
  return done;
}
