import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { TestService, benign, fileMetadata, pollUntil, query } from '#test-support';

interface ErrorBody {
  error: { code: string };
}

// Far longer than the test: an answer that changes can only come from an invalidation, never from expiry.
const CACHE_MS = '600000';

const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/**
 * The principal cache across two API replicas on one database and Redis: a change made through replica A
 * holds on replica B from its very next request, though B has the old state cached for ten minutes.
 */
describe('principal cache across replicas', () => {
  const service = new TestService({ scanner: false, env: { AUTH_CACHE_MS: CACHE_MS } });
  let b = '';

  before(async () => {
    await service.start();
    b = await service.startApiReplica();
  });
  after(() => service.stop());

  async function newAgent(): Promise<{ agentId: string; apiKey: string }> {
    const created = await service.request('/v1/enrollment-tokens', {
      method: 'POST',
      ...json({ ttlSeconds: 600, maxUses: 1 }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { token } = (await created.json()) as { token: string };
    const res = await service.request('/v1/agents/enroll', {
      method: 'POST',
      token: null,
      ...json({
        enrollmentToken: token,
        product: { name: 'Specimen Agent', version: '1.0.0' },
        os: { family: 'linux', version: '6.1' },
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as { agentId: string; apiKey: string };
  }

  /** Consent through replica A. */
  async function consent(apiKey: string, participating: boolean): Promise<void> {
    const res = await service.request('/v1/agents/me/consent', {
      method: 'PUT',
      token: apiKey,
      ...json({ participating, statementVersion: '2026-01' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
  }

  /** Revokes a token behind the API's back: no replica hears of it. */
  const revokeInDatabase = (token: string) =>
    query(service.databaseUrl, 'update api_tokens set revoked_at = now() where token_hash = $1', [
      createHash('sha256').update(token, 'utf8').digest('hex'),
    ]);

  const meOnB = async (token: string): Promise<number> =>
    (await service.request('/v1/me', { token, baseUrl: b })).status;
  const lookupOnB = (apiKey: string): Promise<Response> =>
    service.request('/v1/lookups', {
      method: 'POST',
      token: apiKey,
      baseUrl: b,
      ...json({ items: [{ sha256: 'a'.repeat(64) }] }),
    });

  it('a new token works at once on the other replica', async () => {
    const token = await service.token('analyst');
    assert.equal(await meOnB(token), 200);
  });

  it('B serves a known token from its cache: a change behind the API is not seen', async () => {
    // Without this, the tests below would pass with no cache at all.
    const token = await service.token('analyst');
    assert.equal(await meOnB(token), 200);
    await revokeInDatabase(token);
    assert.equal(await meOnB(token), 200);
    // A never used the token, so it asks the database.
    assert.equal((await service.request('/v1/me', { token })).status, 401);
  });

  it('an agent revoked on A is refused (401) on B from the next request', async () => {
    const { agentId, apiKey } = await newAgent();
    assert.equal(await meOnB(apiKey), 200);
    assert.equal(await meOnB(apiKey), 200);
    const revoked = await service.request(`/v1/agents/${agentId}/revoke`, { method: 'POST' });
    assert.equal(revoked.status, 200, await revoked.clone().text());
    assert.equal(await meOnB(apiKey), 401);
    assert.equal((await service.request('/v1/me', { token: apiKey })).status, 401);
  });

  it("a person's token revoked on A is refused (401) on B from the next request", async () => {
    const token = await service.token('analyst');
    assert.equal(await meOnB(token), 200);
    const me = (await (await service.request('/v1/me', { token })).json()) as { tokenId: string };
    const revoked = await service.request(`/v1/tokens/${me.tokenId}/revoke`, { method: 'POST' });
    assert.equal(revoked.status, 200, await revoked.clone().text());
    assert.equal(await meOnB(token), 401);
    assert.equal((await service.request('/v1/me', { token })).status, 401);
  });

  it("lists people's tokens and revokes them once, refusing agents' keys and the last admin token", async () => {
    const adminId = async (token?: string): Promise<string> =>
      ((await (await service.request('/v1/me', { token })).json()) as { tokenId: string }).tokenId;
    const list = async () => {
      const res = await service.request('/v1/tokens');
      assert.equal(res.status, 200, await res.clone().text());
      return ((await res.json()) as { items: { id: string; role: string; revokedAt: string | null }[] })
        .items;
    };
    const revoke = (id: string) => service.request(`/v1/tokens/${id}/revoke`, { method: 'POST' });
    const code = async (res: Response) => ((await res.json()) as ErrorBody).error.code;

    // Twice: the same revocation time, one audit record.
    const token = await service.token('analyst');
    const id = await adminId(token);
    const first = (await (await revoke(id)).json()) as { revokedAt: string };
    const again = await revoke(id);
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { revokedAt: string }).revokedAt, first.revokedAt);
    assert.equal((await list()).find((t) => t.id === id)?.revokedAt, first.revokedAt);
    const audit = await query<{ n: string }>(
      service.databaseUrl,
      "select count(*) as n from audit_log where action = 'token.revoke' and target_id = $1",
      [id],
    );
    assert.equal(audit[0]?.n, '1');

    // An agent's key is revoked with its agent, and is not listed.
    const { agentId, apiKey } = await newAgent();
    const keyId = await adminId(apiKey);
    assert.equal(
      (await list()).some((t) => t.id === keyId),
      false,
    );
    const refused = await revoke(keyId);
    assert.equal(refused.status, 409);
    assert.equal(await code(refused), 'CONFLICT');
    assert.equal(
      (await service.request('/v1/me', { token: apiKey })).status,
      200,
      `agent ${agentId} still in`,
    );

    // The last admin token stays: another admin can be revoked, the only one left cannot.
    const second = await service.token('admin');
    const secondId = await adminId(second);
    assert.equal((await revoke(secondId)).status, 200);
    const last = await revoke(await adminId());
    assert.equal(last.status, 409);
    assert.match(
      ((await last.json()) as { error: { message: string } }).error.message,
      /last unrevoked admin/,
    );
    assert.equal((await service.request('/v1/me')).status, 200);
    assert.equal((await revoke('00000000-0000-4000-8000-000000000000')).status, 404);
    assert.equal((await revoke('not-a-uuid')).status, 404);
  });

  it('revokes two admin tokens at once without a deadlock while another admin stays', async () => {
    const ids = await Promise.all(
      [1, 2].map(async () => {
        const token = await service.token('admin');
        return ((await (await service.request('/v1/me', { token })).json()) as { tokenId: string }).tokenId;
      }),
    );
    const answers = await Promise.all(
      ids.map((id) => service.request(`/v1/tokens/${id}/revoke`, { method: 'POST' })),
    );
    assert.deepEqual(
      answers.map((r) => r.status),
      [200, 200],
    );
    assert.equal((await service.request('/v1/me')).status, 200);
  });

  it('a consent withdrawn on A refuses ingest (403 CONSENT_REQUIRED) on B from the next request', async () => {
    const { apiKey } = await newAgent();
    await consent(apiKey, true);
    assert.equal((await lookupOnB(apiKey)).status, 200);
    await consent(apiKey, false);
    const look = await lookupOnB(apiKey);
    assert.equal(look.status, 403);
    assert.equal(((await look.json()) as ErrorBody).error.code, 'CONSENT_REQUIRED');
    const bytes = benign(64);
    const form = new FormData();
    form.append('metadata', JSON.stringify(fileMetadata(bytes)));
    form.append('file', new Blob([bytes]), 'x.bin');
    const submitted = await service.request('/v1/submissions', {
      method: 'POST',
      token: apiKey,
      baseUrl: b,
      body: form,
    });
    assert.equal(submitted.status, 403);
    assert.equal(((await submitted.json()) as ErrorBody).error.code, 'CONSENT_REQUIRED');
    // And consent given again on A holds on B at once too.
    await consent(apiKey, true);
    assert.equal((await lookupOnB(apiKey)).status, 200);
  });

  it('B forgets everything when its subscription breaks (changes may have been missed)', async () => {
    const { agentId, apiKey } = await newAgent();
    assert.equal(await meOnB(apiKey), 200);
    // A revocation no replica hears of: straight in the database.
    await query(service.databaseUrl, 'update agents set revoked_at = now() where id = $1', [agentId]);
    assert.equal(await meOnB(apiKey), 200, 'still cached: nothing told B');
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      // Only this test's subscribers (by connection name): other tests share the Redis server.
      const clients = ((await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string)
        .split('\n')
        .filter((line) => line.includes(` name=${service.queuePrefix}:auth-subscriber `));
      assert.equal(clients.length, 2, 'one subscriber per replica');
      for (const line of clients) {
        const id = /(?:^|\s)id=(\d+)/.exec(line)?.[1];
        assert.ok(id !== undefined);
        await redis.call('CLIENT', 'KILL', 'ID', id);
      }
    } finally {
      redis.disconnect();
    }
    await pollUntil(async () => ((await meOnB(apiKey)) === 401 ? true : undefined), {
      timeoutMs: 10_000,
      what: 'replica B to drop its cache after its subscription broke',
    });
    // Once subscribed again it caches again (and so serves a change behind its back, as above).
    await pollUntil(
      async () => {
        const token = await service.token('analyst');
        if ((await meOnB(token)) !== 200) return undefined;
        await revokeInDatabase(token);
        return (await meOnB(token)) === 200 ? true : undefined;
      },
      { timeoutMs: 10_000, what: 'replica B to cache again after resubscribing' },
    );
  });
});
