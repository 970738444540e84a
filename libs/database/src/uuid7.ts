import { randomFillSync } from 'node:crypto';

/** Random bytes drawn 4 KiB at a time: one system call per 512 ids instead of one per id. */
const random = Buffer.alloc(4096);
let used = random.length;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A version 7 UUID (RFC 9562): the Unix time in milliseconds in the first 48 bits, then 74 random bits
 * (version and variant bits set). Ids made one after another sort by creation, so a primary key of them
 * grows at its right edge instead of touching a random leaf page per insert: for the high-volume rows
 * (submissions, lookup sightings, scans) that is fewer pages written and logged after each checkpoint
 * (see migration 0023). The time is no secret here: every such row also stores when it was made. The
 * database's `uuid_v7()` (migration 0023) makes the same layout.
 */
export function uuidV7(ms: number = Date.now()): string {
  if (used + 10 > random.length) {
    randomFillSync(random);
    used = 0;
  }
  const b = new Array<string>(16);
  // 48-bit big-endian milliseconds: the high 16 bits, then the low 32 (bitwise operators are 32-bit).
  const high = Math.floor(ms / 0x1_0000_0000);
  const low = ms >>> 0;
  b[0] = HEX[(high >>> 8) & 0xff] as string;
  b[1] = HEX[high & 0xff] as string;
  b[2] = HEX[low >>> 24] as string;
  b[3] = HEX[(low >>> 16) & 0xff] as string;
  b[4] = HEX[(low >>> 8) & 0xff] as string;
  b[5] = HEX[low & 0xff] as string;
  b[6] = HEX[0x70 | ((random[used] as number) & 0x0f)] as string;
  b[7] = HEX[random[used + 1] as number] as string;
  b[8] = HEX[0x80 | ((random[used + 2] as number) & 0x3f)] as string;
  for (let i = 9; i < 16; i++) b[i] = HEX[random[used + i - 6] as number] as string;
  used += 10;
  return `${b[0]}${b[1]}${b[2]}${b[3]}-${b[4]}${b[5]}-${b[6]}${b[7]}-${b[8]}${b[9]}-${b[10]}${b[11]}${b[12]}${b[13]}${b[14]}${b[15]}`;
}
