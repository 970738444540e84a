import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SampleView } from '#contracts';
import { TestService, md5, pollUntil, sfdiskImage, sha1, sha256 } from '#test-support';

// Rules that target kinds and file types through the scan's external variables.
const RULES = `
rule Kind_Boot_Record : boot
{
  meta:
    score = 40
  condition:
    kind == "boot-record" and size == filesize
}

rule File_Type_Elf
{
  meta:
    score = 0
  condition:
    file_type == "elf" and kind == "file"
}
`;

describe('analyzers end to end', () => {
  let service: TestService;
  let dir = '';
  let agent = '';
  let analyst = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'specimen-rules-'));
    const rules = join(dir, 'kinds.yar');
    await writeFile(rules, RULES);
    service = new TestService({ env: { DEFAULT_RULESET_PATH: rules }, checkAnswers: true });
    await service.start();
    agent = await service.token('agent');
    analyst = await service.token('analyst');
  });
  after(async () => {
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const submitAndWait = async (bytes: Buffer, metadata: Record<string, unknown>): Promise<SampleView> => {
    const res = await service.submit(
      bytes,
      { sha256: sha256(bytes), md5: md5(bytes), sha1: sha1(bytes), size: bytes.length, ...metadata },
      agent,
    );
    assert.equal(res.status, 201, await res.clone().text());
    return pollUntil(
      async () => {
        const view = (await (
          await service.request(`/v1/samples/${sha256(bytes)}`, { token: analyst })
        ).json()) as SampleView;
        return view.scanStatus === 'pending' ? undefined : view;
      },
      { what: `the scan of ${String(metadata.kind)}` },
    );
  };

  it('shows a boot record’s partition table with the sample, and a kind rule matches only that kind', async () => {
    const { head, dump } = await sfdiskImage('label: gpt\n,8MiB,U\n,,L\n', 34 * 512);
    const view = await submitAndWait(head, {
      kind: 'boot-record',
      device: 0,
      lba: 0,
      sectorSize: 512,
      scheme: 'gpt',
    });
    assert.equal(view.scanStatus, 'scanned', service.output());
    const boot = view.analysis?.bootRecord;
    assert.ok(boot, JSON.stringify(view.analysis));
    assert.equal(boot.signatureValid, true);
    assert.equal(boot.protectiveMbr, true);
    assert.deepEqual(
      boot.partitions.map((p) => [p.type, p.lbaStart]),
      [['0xee', 1]],
    );
    assert.equal(boot.gpt?.headerCrcValid, true);
    assert.equal(boot.gpt?.diskGuid, /label-id: (\S+)/.exec(dump)?.[1]);
    assert.deepEqual(
      boot.gpt?.partitions.map((p) => [p.typeName, p.firstLba]),
      [
        ['EFI system', 2048],
        ['Linux filesystem', 18432],
      ],
    );
    assert.deepEqual(
      view.matches.map((m) => m.rule),
      ['Kind_Boot_Record'],
    );
    assert.equal(view.verdict, 'suspicious');

    // The same kind of bytes sent as a plain file or a memory region do not match the boot-record rule.
    const asFile = Buffer.concat([head, Buffer.from('file')]);
    const file = await submitAndWait(asFile, { kind: 'file' });
    assert.deepEqual(file.matches, []);
    assert.equal(file.analysis?.bootRecord, undefined);
    const region = Buffer.concat([head, Buffer.from('region')]);
    const memory = await submitAndWait(region, {
      kind: 'memory-region',
      process: { pid: 4, image: 'System' },
      baseAddress: '0x7ff600000000',
      regionSize: region.length,
      protection: 'RWX',
    });
    assert.deepEqual(memory.matches, []);
    assert.equal(memory.analysis?.memoryRegion?.writableExecutable, true);
  });

  it('returns the file type and summary of an ELF, and file_type reaches the rules', async () => {
    const { readFile } = await import('node:fs/promises');
    const elf = await readFile('/bin/ls');
    const view = await submitAndWait(elf, { kind: 'file', filename: 'ls' });
    assert.equal(view.fileType, 'elf');
    assert.equal(view.analysis?.fileType.format, 'elf64');
    assert.equal(view.analysis?.elf?.interpreter?.includes('ld-linux'), true);
    assert.deepEqual(
      view.matches.map((m) => m.rule),
      ['File_Type_Elf'],
    );
    assert.equal(view.verdict, 'clean');
  });
});
