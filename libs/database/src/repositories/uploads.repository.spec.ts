import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { dropDatabase, query } from '#test-support';
import { Database, ensureDatabase, runMigrations } from '../database.js';
import { UploadsRepository } from './uploads.repository.js';

const url = `postgres://postgres@127.0.0.1:5432/specimen_uploadstest_${randomBytes(5).toString('hex')}`;

describe('UploadsRepository', () => {
  let database: Database;
  let uploads: UploadsRepository;

  before(async () => {
    await ensureDatabase(url);
    await runMigrations(url);
    database = await Database.connect({ url, poolMax: 4, migrate: false });
    uploads = new UploadsRepository(database);
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  it('does not sweep an upload whose expiry a chunk moved on while the sweep waited for its row', async () => {
    const upload = await uploads.create({
      createdBy: randomUUID(),
      length: 10,
      metadata: {},
      rawMetadata: '',
      expiresAt: new Date(Date.now() + 60_000),
    });
    await query(url, `update uploads set expires_at = now() - interval '1 second' where id = $1`, [
      upload.id,
    ]);
    // A chunk's conditional update (appendPart) that began just before the expiry and is committing now.
    const chunk = new pg.Client({ connectionString: url });
    await chunk.connect();
    try {
      await chunk.query('begin');
      await chunk.query(
        `update uploads set "offset" = 5, expires_at = now() + interval '1 day' where id = $1`,
        [upload.id],
      );
      const sweep = uploads.deleteExpired(new Date(), 100);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await chunk.query('commit');
      assert.deepEqual(await sweep, []);
    } finally {
      await chunk.end();
    }
    const row = await uploads.find(upload.id);
    assert.equal(row?.offset, 5);
  });

  it('sweeps the uploads that expired, and only those', async () => {
    const live = await uploads.create({
      createdBy: randomUUID(),
      length: 10,
      metadata: {},
      rawMetadata: '',
      expiresAt: new Date(Date.now() + 60_000),
    });
    const gone = await uploads.create({
      createdBy: randomUUID(),
      length: 10,
      metadata: {},
      rawMetadata: '',
      expiresAt: new Date(Date.now() - 1000),
    });
    const swept = await uploads.deleteExpired(new Date(), 100);
    assert.ok(swept.includes(gone.id));
    assert.ok(!swept.includes(live.id));
    assert.equal(await uploads.find(gone.id), null);
    assert.notEqual(await uploads.find(live.id), null);
  });
});
