import type {
  Anomaly,
  BootRecordSummary,
  GptHeader,
  GptPartition,
  MbrPartition,
  VolumeBootRecord,
} from '#contracts';
import { type ByteSource, crc32, guid, has, hex, printable, toSafe, u8, u16, u32, u64 } from './bytes.js';

/** GPT entries listed; the array usually has 128 slots, mostly empty. */
const MAX_GPT_ENTRIES = 128;
/** Largest entry array read (128 entries of 128 bytes is 16 KiB). */
const MAX_GPT_ARRAY = 1024 * 1024;

const MBR_TYPES: Record<number, string> = {
  0x01: 'FAT12',
  0x04: 'FAT16 <32M',
  0x05: 'extended',
  0x06: 'FAT16',
  0x07: 'NTFS/exFAT/HPFS',
  0x0b: 'FAT32 (CHS)',
  0x0c: 'FAT32 (LBA)',
  0x0e: 'FAT16 (LBA)',
  0x0f: 'extended (LBA)',
  0x27: 'Windows recovery',
  0x82: 'Linux swap',
  0x83: 'Linux',
  0x85: 'Linux extended',
  0x8e: 'Linux LVM',
  0xa5: 'FreeBSD',
  0xaf: 'HFS+',
  0xee: 'GPT protective',
  0xef: 'EFI system',
  0xfd: 'Linux RAID',
};

const GPT_TYPES: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI system',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  '48465300-0000-11AA-AA11-00306543ECAC': 'Apple HFS+',
};

export interface BootRecordOptions {
  /** 512 or 4096 (from the submission); 512 when unknown. */
  sectorSize?: number;
  /** The LBA of the first submitted sector: GPT entry positions are relative to it. */
  lba?: number;
}

const chs = (b: Buffer, o: number): [number, number, number] => {
  const head = b[o] ?? 0;
  const sector = (b[o + 1] ?? 0) & 0x3f;
  const cylinder = (((b[o + 1] ?? 0) & 0xc0) << 2) | (b[o + 2] ?? 0);
  return [cylinder, head, sector];
};

/**
 * Parses boot sectors: the 0x55AA signature, the four MBR partition entries, a protective MBR and the GPT
 * header at LBA 1 with its entries (when inside the submitted bytes), a volume boot record (NTFS, FAT,
 * exFAT), and anomalies of the table. Never throws on malformed input.
 */
export async function analyzeBootRecord(
  source: ByteSource,
  options: BootRecordOptions = {},
): Promise<BootRecordSummary> {
  let sectorSize = options.sectorSize === 4096 ? 4096 : 512;
  const firstLba = options.lba ?? 0;
  const anomalies: Anomaly[] = [];
  const sector = await source.read(0, sectorSize);
  if (sector.length < 512) {
    anomalies.push({ code: 'truncated', message: `only ${sector.length} bytes: a boot sector has 512` });
  }
  const signatureValid = sector[510] === 0x55 && sector[511] === 0xaa;
  const signature = has(sector, 510, 2) ? hex(u16(sector, 510, false)) : '';
  if (!signatureValid)
    anomalies.push({
      code: 'bad-signature',
      message: `boot signature ${signature || 'missing'}, expected 0x55aa`,
    });

  const vbr = detectVbr(sector);
  const partitions = vbr === null ? mbrPartitions(sector, anomalies) : [];
  const protectiveMbr = partitions.some((p) => p.type === '0xee');
  let gpt: GptHeader | null = null;
  if (vbr === null) {
    gpt = await readGpt(source, sectorSize, firstLba, anomalies);
    if (gpt === null && sectorSize !== 4096 && source.size >= 8192 + 92) {
      // A 4 KiB-sector disk submitted as 512: the header is at byte 4096, and its LBAs count 4 KiB sectors,
      // which the answer's sector size must say.
      gpt = await readGpt(source, 4096, firstLba, anomalies);
      if (gpt !== null) sectorSize = 4096;
    }
    if (protectiveMbr && gpt === null && source.size >= sectorSize * 2) {
      anomalies.push({
        code: 'protective-mbr-without-gpt',
        message: 'protective MBR but no GPT header at LBA 1',
      });
    }
  }
  const scheme =
    vbr !== null ? 'vbr' : gpt !== null ? 'gpt' : partitions.length > 0 || signatureValid ? 'mbr' : 'unknown';
  return { sectorSize, signature, signatureValid, scheme, partitions, protectiveMbr, gpt, vbr, anomalies };
}

function mbrPartitions(sector: Buffer, anomalies: Anomaly[]): MbrPartition[] {
  const partitions: MbrPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const o = 446 + i * 16;
    if (!has(sector, o, 16)) break;
    const entry = sector.subarray(o, o + 16);
    if (entry.every((b) => b === 0)) continue;
    const status = entry[0] ?? 0;
    const type = entry[4] ?? 0;
    if (status !== 0 && status !== 0x80) {
      anomalies.push({ code: 'invalid-status', message: `partition ${i + 1} has status ${hex(status)}` });
    }
    if (type === 0) {
      anomalies.push({
        code: 'empty-type-with-data',
        message: `partition ${i + 1} has type 0 but is not empty`,
      });
    }
    partitions.push({
      index: i + 1,
      status: hex(status),
      active: status === 0x80,
      type: hex(type),
      typeName: MBR_TYPES[type] ?? 'unknown',
      lbaStart: u32(entry, 8),
      sectors: u32(entry, 12),
      chsStart: chs(entry, 1),
      chsEnd: chs(entry, 5),
    });
  }
  if (partitions.filter((p) => p.active).length > 1) {
    anomalies.push({ code: 'multiple-active', message: 'more than one partition is marked active' });
  }
  const used = partitions.filter((p) => p.type !== '0x0' && p.sectors > 0);
  for (let a = 0; a < used.length; a++) {
    for (let b = a + 1; b < used.length; b++) {
      const x = used[a];
      const y = used[b];
      if (x === undefined || y === undefined) continue;
      if (x.lbaStart < y.lbaStart + y.sectors && y.lbaStart < x.lbaStart + x.sectors) {
        anomalies.push({
          code: 'overlapping-partitions',
          message: `partitions ${x.index} and ${y.index} overlap`,
        });
      }
    }
  }
  if (partitions.some((p) => p.type !== '0x0' && p.type !== '0xee' && p.sectors === 0)) {
    anomalies.push({ code: 'zero-length-partition', message: 'a partition has zero sectors' });
  }
  return partitions;
}

async function readGpt(
  source: ByteSource,
  sectorSize: number,
  firstLba: number,
  anomalies: Anomaly[],
): Promise<GptHeader | null> {
  const at = (1 - firstLba) * sectorSize;
  if (at < 0) return null;
  const h = await source.read(at, sectorSize);
  if (h.subarray(0, 8).toString('latin1') !== 'EFI PART') return null;
  const headerSize = u32(h, 12);
  const storedCrc = u32(h, 16);
  let headerCrcValid = false;
  if (headerSize < 92 || headerSize > h.length) {
    anomalies.push({ code: 'gpt-bad-header-size', message: `GPT header size ${headerSize}` });
  } else {
    const copy = Buffer.from(h.subarray(0, headerSize));
    copy.writeUInt32LE(0, 16);
    headerCrcValid = crc32(copy) === storedCrc;
    if (!headerCrcValid)
      anomalies.push({ code: 'gpt-header-crc-mismatch', message: 'the GPT header CRC32 does not match' });
  }
  const revision = u32(h, 8);
  const entryLba = toSafe(u64(h, 72));
  const entryCount = u32(h, 80);
  const entrySize = u32(h, 84);
  const arrayCrc = u32(h, 88);
  const partitions: GptPartition[] = [];
  let partitionArrayCrcValid: boolean | null = null;
  const arrayBytes = entryCount * entrySize;
  if (entrySize >= 128 && entrySize <= 4096 && entrySize % 8 === 0 && entryLba >= firstLba) {
    const arrayAt = (entryLba - firstLba) * sectorSize;
    const array = await source.read(arrayAt, Math.min(arrayBytes, MAX_GPT_ARRAY));
    if (array.length === arrayBytes) {
      partitionArrayCrcValid = crc32(array) === arrayCrc;
      if (!partitionArrayCrcValid) {
        anomalies.push({
          code: 'gpt-entries-crc-mismatch',
          message: 'the GPT partition array CRC32 does not match',
        });
      }
    }
    for (let i = 0; i < entryCount && partitions.length < MAX_GPT_ENTRIES; i++) {
      const o = i * entrySize;
      if (!has(array, o, 128)) break;
      const typeGuid = guid(array, o);
      if (typeGuid === '00000000-0000-0000-0000-000000000000') continue;
      const nameEnd = array.subarray(o + 56, o + 128);
      let name = nameEnd.toString('utf16le');
      const nul = name.indexOf('\0');
      if (nul >= 0) name = name.slice(0, nul);
      partitions.push({
        index: i + 1,
        typeGuid,
        typeName: GPT_TYPES[typeGuid] ?? 'unknown',
        uniqueGuid: guid(array, o + 16),
        firstLba: toSafe(u64(array, o + 32)),
        lastLba: toSafe(u64(array, o + 40)),
        attributes: hex(u64(array, o + 48)),
        // UTF-16 as written (a name in Polish or Japanese stays so), without control characters or lone
        // surrogates; it was cut to each character's low byte.
        name: name
          .replace(/\p{Cc}/gu, '?')
          .toWellFormed()
          .slice(0, 36),
      });
    }
  } else {
    anomalies.push({ code: 'gpt-bad-entry-size', message: `GPT entry size ${entrySize}` });
  }
  return {
    signature: 'EFI PART',
    revision: `${revision >>> 16}.${revision & 0xffff}`,
    headerSize,
    headerCrc32: hex(storedCrc),
    headerCrcValid,
    currentLba: toSafe(u64(h, 24)),
    backupLba: toSafe(u64(h, 32)),
    firstUsableLba: toSafe(u64(h, 40)),
    lastUsableLba: toSafe(u64(h, 48)),
    diskGuid: guid(h, 56),
    partitionEntryLba: entryLba,
    partitionEntryCount: entryCount,
    partitionEntrySize: entrySize,
    partitionArrayCrc32: hex(arrayCrc),
    partitionArrayCrcValid,
    partitions,
  };
}

/** A volume boot record: a jump instruction, then an OEM id and a BIOS parameter block we recognise. */
function detectVbr(sector: Buffer): VolumeBootRecord | null {
  if (!has(sector, 0, 90)) return null;
  const jumpValid = (sector[0] === 0xeb && sector[2] === 0x90) || sector[0] === 0xe9;
  const oemId = printable(sector.subarray(3, 11));
  let filesystem: VolumeBootRecord['filesystem'] | null = null;
  if (oemId === 'NTFS    ') filesystem = 'ntfs';
  else if (oemId === 'EXFAT   ') filesystem = 'exfat';
  else if (sector.subarray(82, 90).toString('latin1') === 'FAT32   ') filesystem = 'fat32';
  else if (/^FAT1[26] {3}$/.test(sector.subarray(54, 62).toString('latin1'))) filesystem = 'fat';
  if (filesystem === null || !jumpValid) return null;
  return {
    filesystem,
    oemId: oemId.trimEnd(),
    jump: sector.subarray(0, 3).toString('hex'),
    jumpValid,
    // exFAT keeps the BPB's field zero and says it as a power of two (BytesPerSectorShift, 9 to 12).
    bytesPerSector: filesystem === 'exfat' ? exfatBytesPerSector(sector) : u16(sector, 11),
  };
}

function exfatBytesPerSector(sector: Buffer): number {
  const shift = u8(sector, 0x6c);
  return shift >= 9 && shift <= 12 ? 2 ** shift : 0;
}
