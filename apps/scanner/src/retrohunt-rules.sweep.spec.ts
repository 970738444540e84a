import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { RetrohuntStatus } from '#contracts';
import type { RetrohuntsRepository } from '#database';
import { type ObjectInfo, type ObjectStore, retrohuntRulesKey } from '#storage';
import { RETROHUNT_RULES_GRACE_MS, RetrohuntRulesSweep } from './retrohunt-rules.sweep.js';

/** A store of `objects` (listing only under the prefix asked for), recording what it deleted. */
const memoryStore = (objects: ObjectInfo[]): { store: ObjectStore; deleted: string[] } => {
  const deleted: string[] = [];
  const store = {
    list: async function* (prefix: string) {
      await Promise.resolve();
      for (const object of objects) if (object.key.startsWith(prefix)) yield object;
    },
    delete: (key: string) => {
      deleted.push(key);
      return Promise.resolve();
    },
  } as unknown as ObjectStore;
  return { store, deleted };
};

/** A repository of retrohunts with these statuses, recording the ids it was asked about. */
const withStatuses = (
  statuses: Record<string, RetrohuntStatus>,
): { retrohunts: RetrohuntsRepository; asked: string[][] } => {
  const asked: string[][] = [];
  const retrohunts = {
    statuses: (ids: string[]) => {
      asked.push(ids);
      return Promise.resolve(
        new Map(ids.flatMap((id) => (statuses[id] === undefined ? [] : [[id, statuses[id]] as const]))),
      );
    },
  } as unknown as RetrohuntsRepository;
  return { retrohunts, asked };
};

const TAG = '4.5.2-0123456789abcdef';
const OTHER_TAG = '4.3.1-fedcba9876543210';

describe('RetrohuntRulesSweep', () => {
  it('lists one folder and asks the database nothing when nothing is stored', async () => {
    const { store, deleted } = memoryStore([{ key: 'samples/ab/cd/x', size: 1, lastModified: new Date(0) }]);
    const { retrohunts, asked } = withStatuses({});
    const counts = await new RetrohuntRulesSweep(store, retrohunts).handle();
    assert.deepEqual(counts, { listed: 0, removed: 0, kept: 0 });
    assert.deepEqual(asked, []);
    assert.deepEqual(deleted, []);
  });

  it("removes the rules of retrohunts that are over, and of no retrohunt after the grace; keeps running and queued ones'", async () => {
    const now = Date.now();
    const fresh = new Date(now - 60_000);
    const old = new Date(now - RETROHUNT_RULES_GRACE_MS - 60_000);
    const id = {
      running: randomUUID(),
      queued: randomUUID(),
      done: randomUUID(),
      cancelled: randomUUID(),
      failed: randomUUID(),
      creating: randomUUID(),
      crashed: randomUUID(),
    };
    const object = (key: string, lastModified: Date): ObjectInfo => ({ key, size: 10, lastModified });
    const keep = [
      // Over the grace, under any tag: the retrohunt's own end removes them.
      object(retrohuntRulesKey(id.running, OTHER_TAG), old),
      object(retrohuntRulesKey(id.queued, TAG), old),
      // An API still committing the retrohunt's row.
      object(retrohuntRulesKey(id.creating, TAG), fresh),
      object('retrohunt-rules/not-a-retrohunt', fresh),
    ];
    const remove = [
      // Over: removed however fresh (stored after the end, or its removal failed).
      object(retrohuntRulesKey(id.done, TAG), fresh),
      object(retrohuntRulesKey(id.done, OTHER_TAG), fresh),
      object(retrohuntRulesKey(id.cancelled, TAG), fresh),
      object(retrohuntRulesKey(id.failed, OTHER_TAG), old),
      // No row after the grace: an API that crashed before committing it.
      object(retrohuntRulesKey(id.crashed, TAG), old),
      object('retrohunt-rules/not-a-retrohunt-either', old),
    ];
    const { store, deleted } = memoryStore([...keep, ...remove].sort((a, b) => a.key.localeCompare(b.key)));
    const { retrohunts, asked } = withStatuses({
      [id.running]: 'running',
      [id.queued]: 'queued',
      [id.done]: 'done',
      [id.cancelled]: 'cancelled',
      [id.failed]: 'failed',
    });
    const counts = await new RetrohuntRulesSweep(store, retrohunts).handle();
    assert.deepEqual(counts, { listed: 10, removed: 6, kept: 4 });
    assert.deepEqual(deleted.sort(), remove.map((o) => o.key).sort());
    assert.equal(asked.length, 1, 'one query for all');
    assert.deepEqual(asked[0]?.sort(), Object.values(id).sort(), 'each retrohunt once, only real ids');
  });

  it('looks retrohunts up in batches', async () => {
    const old = new Date(Date.now() - RETROHUNT_RULES_GRACE_MS - 60_000);
    const objects = Array.from({ length: 1201 }, () => ({
      key: retrohuntRulesKey(randomUUID(), TAG),
      size: 1,
      lastModified: old,
    }));
    const { store, deleted } = memoryStore(objects);
    const { retrohunts, asked } = withStatuses({});
    const counts = await new RetrohuntRulesSweep(store, retrohunts).handle();
    assert.deepEqual(counts, { listed: 1201, removed: 1201, kept: 0 });
    assert.equal(deleted.length, 1201);
    assert.deepEqual(
      asked.map((ids) => ids.length),
      [500, 500, 201],
    );
  });
});
