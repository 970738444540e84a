import type { Anomaly, ElfSection, ElfSegment, ElfSummary } from '#contracts';
import { type ByteSource, Deadline, cString, has, hex, toSafe, u16, u32, u64 } from './bytes.js';

const MAX_SECTIONS = 256;
const MAX_SEGMENTS = 128;
/** Largest section-name string table read. */
const MAX_STRTAB = 1024 * 1024;

const TYPES: Record<number, string> = { 0: 'none', 1: 'rel', 2: 'exec', 3: 'dyn', 4: 'core' };

const MACHINES: Record<number, string> = {
  2: 'sparc',
  3: 'x86',
  8: 'mips',
  20: 'ppc',
  21: 'ppc64',
  22: 's390',
  40: 'arm',
  43: 'sparcv9',
  50: 'ia64',
  62: 'x86_64',
  183: 'aarch64',
  243: 'riscv',
  258: 'loongarch',
};

const SEGMENT_TYPES: Record<number, string> = {
  0: 'NULL',
  1: 'LOAD',
  2: 'DYNAMIC',
  3: 'INTERP',
  4: 'NOTE',
  5: 'SHLIB',
  6: 'PHDR',
  7: 'TLS',
  0x6474e550: 'GNU_EH_FRAME',
  0x6474e551: 'GNU_STACK',
  0x6474e552: 'GNU_RELRO',
  0x6474e553: 'GNU_PROPERTY',
};

const SECTION_TYPES: Record<number, string> = {
  0: 'NULL',
  1: 'PROGBITS',
  2: 'SYMTAB',
  3: 'STRTAB',
  4: 'RELA',
  5: 'HASH',
  6: 'DYNAMIC',
  7: 'NOTE',
  8: 'NOBITS',
  9: 'REL',
  11: 'DYNSYM',
  14: 'INIT_ARRAY',
  15: 'FINI_ARRAY',
  0x6ffffff6: 'GNU_HASH',
  0x6ffffffe: 'VERNEED',
  0x6fffffff: 'VERSYM',
};

const named = (table: Record<number, string>, v: number): string => table[v] ?? hex(v);

/** `W`rite, `A`lloc, e`X`ecute (as readelf shows them). */
function sectionFlags(flags: bigint): string {
  return `${flags & 1n ? 'W' : ''}${flags & 2n ? 'A' : ''}${flags & 4n ? 'X' : ''}`;
}

/** `R`, `W`, `E` of a program header. */
function segmentFlags(flags: number): string {
  return `${flags & 4 ? 'R' : ''}${flags & 2 ? 'W' : ''}${flags & 1 ? 'E' : ''}`;
}

/**
 * Summarises an ELF file: header, sections (named from the section string table), segments and the
 * interpreter. Returns null when the bytes are not ELF. Never throws on malformed input.
 */
export async function analyzeElf(
  source: ByteSource,
  deadline: Deadline = new Deadline(5_000),
): Promise<ElfSummary | null> {
  const h = await source.read(0, 64);
  if (!(h[0] === 0x7f && h[1] === 0x45 && h[2] === 0x4c && h[3] === 0x46)) return null;
  const is64 = h[4] === 2;
  const le = h[5] !== 2;
  const anomalies: Anomaly[] = [];
  let truncated = false;
  if (h[4] !== 1 && h[4] !== 2)
    anomalies.push({ code: 'bad-class', message: `EI_CLASS ${h[4] ?? 'missing'}` });
  if (h[5] !== 1 && h[5] !== 2) anomalies.push({ code: 'bad-data', message: `EI_DATA ${h[5] ?? 'missing'}` });
  if (!has(h, 0, is64 ? 64 : 52)) {
    anomalies.push({ code: 'truncated-header', message: 'the ELF header is cut short' });
    truncated = true;
  }
  const word = (o: number): bigint => (is64 ? u64(h, o, le) : BigInt(u32(h, o, le)));
  const type = u16(h, 16, le);
  const machine = u16(h, 18, le);
  const entry = word(24);
  const phoff = toSafe(word(is64 ? 32 : 28));
  const shoff = toSafe(word(is64 ? 40 : 32));
  const at = is64 ? 52 : 40;
  const phentsize = u16(h, at + 2, le);
  const phnum = u16(h, at + 4, le);
  const shentsize = u16(h, at + 6, le);
  let shnum = u16(h, at + 8, le);
  let shstrndx = u16(h, at + 10, le);
  // Extended numbering (more than 0xff00 sections): e_shnum 0 and e_shstrndx SHN_XINDEX (0xffff) say the
  // real values are in section 0's sh_size and sh_link, as readelf reads them.
  if ((shnum === 0 || shstrndx === 0xffff) && shoff !== 0 && shentsize >= (is64 ? 64 : 40)) {
    const first = await source.read(shoff, is64 ? 64 : 40);
    if (shnum === 0) shnum = toSafe(is64 ? u64(first, 32, le) : BigInt(u32(first, 20, le)));
    if (shstrndx === 0xffff) shstrndx = u32(first, is64 ? 40 : 24, le);
  }

  const segments: ElfSegment[] = [];
  let interpreter: string | null = null;
  const phMin = is64 ? 56 : 32;
  if (phnum > 0 && phentsize >= phMin) {
    const count = Math.min(phnum, MAX_SEGMENTS);
    const table = await source.read(phoff, count * phentsize);
    for (let i = 0; i < count; i++) {
      const p = i * phentsize;
      if (!has(table, p, phMin)) {
        anomalies.push({ code: 'truncated-program-headers', message: `program headers end after ${i}` });
        truncated = true;
        break;
      }
      const pType = u32(table, p, le);
      const flags = is64 ? u32(table, p + 4, le) : u32(table, p + 24, le);
      const offset = toSafe(is64 ? u64(table, p + 8, le) : BigInt(u32(table, p + 4, le)));
      const vaddr = is64 ? u64(table, p + 16, le) : BigInt(u32(table, p + 8, le));
      const fileSize = toSafe(is64 ? u64(table, p + 32, le) : BigInt(u32(table, p + 16, le)));
      const memorySize = toSafe(is64 ? u64(table, p + 40, le) : BigInt(u32(table, p + 20, le)));
      segments.push({
        type: named(SEGMENT_TYPES, pType),
        flags: segmentFlags(flags),
        offset,
        virtualAddress: hex(vaddr),
        fileSize,
        memorySize,
      });
      if (pType === 3 && interpreter === null) {
        interpreter = cString(await source.read(offset, Math.min(fileSize, 4096)), 0, 4096);
      }
      if (pType === 1 && (flags & 3) === 3) {
        anomalies.push({
          code: 'writable-executable-segment',
          message: `LOAD segment ${i} is writable and executable`,
        });
      }
    }
    if (phnum > MAX_SEGMENTS)
      anomalies.push({ code: 'too-many-segments', message: `${phnum} program headers` });
  }

  const sections: ElfSection[] = [];
  const shMin = is64 ? 64 : 40;
  if (shnum > 0 && shentsize >= shMin && !deadline.expired) {
    const count = Math.min(shnum, MAX_SECTIONS);
    const table = await source.read(shoff, count * shentsize);
    const field = (p: number, o32: number, o64: number): bigint =>
      is64 ? u64(table, p + o64, le) : BigInt(u32(table, p + o32, le));
    let names: Buffer = Buffer.alloc(0);
    if (shstrndx < count && has(table, shstrndx * shentsize, shMin)) {
      const p = shstrndx * shentsize;
      names = await source.read(toSafe(field(p, 16, 24)), Math.min(toSafe(field(p, 20, 32)), MAX_STRTAB));
    }
    for (let i = 0; i < count; i++) {
      const p = i * shentsize;
      if (!has(table, p, shMin)) {
        anomalies.push({
          code: 'truncated-section-headers',
          message: `the file ends after ${i} of ${count} section headers`,
        });
        truncated = true;
        break;
      }
      sections.push({
        name: cString(names, u32(table, p, le), 256),
        type: named(SECTION_TYPES, u32(table, p + 4, le)),
        flags: sectionFlags(field(p, 8, 8)),
        address: hex(field(p, 12, 16)),
        offset: toSafe(field(p, 16, 24)),
        size: toSafe(field(p, 20, 32)),
      });
    }
    if (shnum > MAX_SECTIONS)
      anomalies.push({ code: 'too-many-sections', message: `${shnum} section headers` });
  }
  return {
    class: is64 ? 'elf64' : 'elf32',
    endianness: le ? 'little' : 'big',
    osAbi: h[7] ?? 0,
    type: TYPES[type] ?? hex(type),
    machine: hex(machine),
    machineName: MACHINES[machine] ?? 'other',
    entry: hex(entry),
    numberOfSections: shnum,
    sections,
    numberOfSegments: phnum,
    segments,
    interpreter,
    anomalies,
    truncated: truncated || deadline.expired,
  };
}
