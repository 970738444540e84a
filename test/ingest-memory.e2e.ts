import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { TestService, fileMetadata } from '#test-support';

const MiB = 1024 * 1024;
const SIZE = 512 * MiB;

const statusMb = (pid: number, field: string): number =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

// Dead socket buffers wait for a young-generation GC, which an upload's little heap allocation rarely
// triggers: without the API's paced minor GCs (apps/api/src/http/buffer-garbage.ts) a 512 MiB upload
// raised its peak RSS by 28–36 MB here, with them by 5–15 MB (a 1 GiB upload: 70–80 MB against 30).
describe('ingest memory', () => {
  let service: TestService;
  let agent = '';

  before(async () => {
    service = new TestService({ env: { UPLOAD_MAX_BYTES: String(SIZE) } });
    await service.start();
    agent = await service.token('agent');
  });
  after(() => service.stop());

  it('a 512 MiB upload raises the API peak RSS by less than 20 MB', async () => {
    const pid = service.api?.pid;
    assert.ok(pid !== undefined);
    const warm = randomBytes(8 * MiB);
    assert.equal((await service.submit(warm, fileMetadata(warm), agent)).status, 201);
    const bytes = randomBytes(SIZE);
    const start = statusMb(pid, 'VmRSS');
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // the peak (VmHWM) restarts from the RSS now
    const res = await service.submit(bytes, fileMetadata(bytes), agent);
    assert.equal(res.status, 201, await res.text());
    const growth = statusMb(pid, 'VmHWM') - start;
    assert.ok(growth < 20, `peak RSS grew by ${growth.toFixed(1)} MB (from ${start.toFixed(0)} MB)`);
  });
});
