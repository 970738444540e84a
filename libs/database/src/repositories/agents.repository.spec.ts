import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { dropDatabase } from '#test-support';
import { Database } from '../database.js';
import { sql } from '../drizzle.js';
import { AgentsRepository } from './agents.repository.js';

const url = `postgres://postgres@127.0.0.1:5432/specimen_agentstest_${randomBytes(5).toString('hex')}`;

describe('AgentsRepository.setConsent', () => {
  let database: Database;
  let agents: AgentsRepository;

  before(async () => {
    database = await Database.connect({ url, poolMax: 3 });
    agents = new AgentsRepository(database);
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  it('stamps a withdrawal after what the agent sent before it took effect, however long it waited', async () => {
    const pseudonym = randomBytes(32).toString('hex');
    const [agent] = (
      await database.db.execute<{ id: string }>(
        sql`insert into agents (pseudonym, product_name, product_version, os_family, os_version, participating)
            values (${pseudonym}, 'p', '1', 'linux', '6', true) returning id`,
      )
    ).rows;
    assert.ok(agent !== undefined);
    // An upload's write holds the agent row `for share` (SubmissionsRepository.record) in a transaction that
    // started after the withdrawal's: the withdrawal waits for it, and what it wrote (received at its own
    // transaction's start) must fall before the withdrawal's stamp, or the consent purge, which removes what
    // was received up to the stamp, would never find it.
    const upload = new pg.Client({ connectionString: url });
    await upload.connect();
    try {
      let uploadHoldsLock = (): void => undefined;
      const locked = new Promise<void>((resolve) => (uploadHoldsLock = resolve));
      let withdrawalBegan = (): void => undefined;
      const began = new Promise<void>((resolve) => (withdrawalBegan = resolve));
      const withdrawal = database.transaction(async (tx) => {
        await tx.execute(sql`select now()`);
        withdrawalBegan();
        await locked;
        return agents.setConsent({ agentId: agent.id, participating: false, statementVersion: '1' }, tx);
      });
      await began;
      await new Promise((resolve) => setTimeout(resolve, 20));
      await upload.query('begin');
      const { rows } = await upload.query<{ received: Date }>('select now() as received');
      await upload.query('select 1 from agents where pseudonym = $1 for share', [pseudonym]);
      uploadHoldsLock();
      await new Promise((resolve) => setTimeout(resolve, 100)); // the withdrawal now waits for the lock
      await upload.query('commit');
      const changed = await withdrawal;
      assert.ok(changed !== null);
      const [row] = (
        await database.db.execute<{ revoked: string }>(
          sql`select consent_revoked_at::text as revoked from agents where id = ${agent.id}`,
        )
      ).rows;
      const received = rows[0]?.received;
      assert.ok(row !== undefined && received !== undefined);
      assert.ok(
        new Date(row.revoked).getTime() >= received.getTime(),
        `withdrawal stamped ${row.revoked}, before the upload it waited for (received ${received.toISOString()})`,
      );
    } finally {
      await upload.end();
    }
  });
});
