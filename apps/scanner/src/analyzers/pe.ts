import { createHash } from 'node:crypto';
import type { Anomaly, PeImport, PeSection, PeSummary } from '#contracts';
import {
  type ByteSource,
  Deadline,
  cString,
  entropyOfRange,
  has,
  hex,
  u16,
  u32,
  u64,
  MIN_LFANEW,
} from './bytes.js';

/** Sections listed (the Windows loader allows 96; the COFF field allows 65,535). */
const MAX_SECTIONS = 96;
const MAX_DLLS = 512;
const MAX_FUNCTIONS_PER_DLL = 4096;
const MAX_FUNCTIONS = 16_384;
const HEADER_READ = 64 * 1024;

const MACHINES: Record<number, string> = {
  0x0: 'unknown',
  0x14c: 'i386',
  0x166: 'mips',
  0x1c0: 'arm',
  0x1c4: 'armnt',
  0x200: 'ia64',
  0x8664: 'amd64',
  0xaa64: 'arm64',
  0x5064: 'riscv64',
};

const SUBSYSTEMS: Record<number, string> = {
  0: 'unknown',
  1: 'native',
  2: 'windows-gui',
  3: 'windows-cui',
  5: 'os2-cui',
  7: 'posix-cui',
  9: 'windows-ce-gui',
  10: 'efi-application',
  11: 'efi-boot-service-driver',
  12: 'efi-runtime-driver',
  13: 'efi-rom',
  14: 'xbox',
  16: 'windows-boot-application',
};

const FILE_FLAGS: Array<[number, string]> = [
  [0x0001, 'relocs-stripped'],
  [0x0002, 'executable-image'],
  [0x0020, 'large-address-aware'],
  [0x0100, '32bit-machine'],
  [0x0200, 'debug-stripped'],
  [0x1000, 'system'],
  [0x2000, 'dll'],
];

const SECTION_FLAGS: Array<[number, string]> = [
  [0x00000020, 'code'],
  [0x00000040, 'initialized-data'],
  [0x00000080, 'uninitialized-data'],
  [0x02000000, 'discardable'],
  [0x10000000, 'shared'],
  [0x20000000, 'execute'],
  [0x40000000, 'read'],
  [0x80000000, 'write'],
];

const flagNames = (value: number, table: Array<[number, string]>): string[] =>
  table.filter(([bit]) => (value & bit) >>> 0 !== 0).map(([, name]) => name);

interface RawSection {
  virtualAddress: number;
  virtualSize: number;
  rawSize: number;
  rawOffset: number;
}

export interface PeOptions {
  /** `mapped`: the image as the loader maps it (memory), sections at their virtual addresses. */
  layout?: 'file' | 'mapped';
  deadline?: Deadline;
}

/**
 * Summarises a PE image: headers, sections with entropy, imports and imphash. Returns null when the bytes
 * do not start with an MZ header leading to a PE signature. Never throws on malformed input: what cannot be
 * read is left out and listed in `anomalies`.
 */
export async function analyzePe(source: ByteSource, options: PeOptions = {}): Promise<PeSummary | null> {
  const deadline = options.deadline ?? new Deadline(5_000);
  const layout = options.layout ?? 'file';
  const dos = await source.read(0, 0x40);
  const lfanew = u32(dos, 0x3c);
  if (!has(dos, 0, 0x40) || dos[0] !== 0x4d || dos[1] !== 0x5a || lfanew < MIN_LFANEW || lfanew > 0x10000000)
    return null;
  const h = await source.read(lfanew, HEADER_READ);
  if (!(h[0] === 0x50 && h[1] === 0x45 && h[2] === 0 && h[3] === 0)) return null;

  const anomalies: Anomaly[] = [];
  let truncated = false;
  const coff = 4;
  const machine = u16(h, coff);
  const declaredSections = u16(h, coff + 2);
  const timestampRaw = u32(h, coff + 4);
  const optionalSize = u16(h, coff + 16);
  const characteristics = u16(h, coff + 18);
  const opt = coff + 20;
  const magic = u16(h, opt);
  const plus = magic === 0x20b;
  if (magic !== 0x10b && magic !== 0x20b) {
    anomalies.push({ code: 'bad-optional-magic', message: `optional header magic ${hex(magic)}` });
  }
  if (!has(h, opt, Math.min(optionalSize, plus ? 112 : 96))) {
    anomalies.push({ code: 'truncated-headers', message: 'the optional header is cut short' });
    truncated = true;
  }
  const entryPoint = u32(h, opt + 16);
  const imageBase = plus ? u64(h, opt + 24) : BigInt(u32(h, opt + 28));
  const fileAlignment = u32(h, opt + 36);
  const sizeOfImage = u32(h, opt + 56);
  const sizeOfHeaders = u32(h, opt + 60);
  const subsystem = u16(h, opt + 68);
  const dllCharacteristics = u16(h, opt + 70);
  const dirCountAt = opt + (plus ? 108 : 92);
  const dirCount = Math.min(u32(h, dirCountAt), 16);
  const dirs = dirCountAt + 4;
  const importRva = dirCount > 1 ? u32(h, dirs + 8) : 0;
  const importSize = dirCount > 1 ? u32(h, dirs + 12) : 0;

  if (declaredSections > MAX_SECTIONS) {
    anomalies.push({
      code: 'too-many-sections',
      message: `${declaredSections} sections; the first ${MAX_SECTIONS} are shown`,
    });
  }
  const raw: RawSection[] = [];
  const sections: PeSection[] = [];
  // The section table follows the optional header, which may be up to 64 KiB long: past the headers read
  // above, it is read where it is (a large SizeOfOptionalHeader hid every section).
  const shown = Math.min(declaredSections, MAX_SECTIONS);
  let st = h;
  let table = opt + optionalSize;
  if (!has(h, table, shown * 40)) {
    st = await source.read(lfanew + table, shown * 40);
    table = 0;
  }
  for (let i = 0; i < shown; i++) {
    const s = table + i * 40;
    if (!has(st, s, 40)) {
      anomalies.push({ code: 'truncated-section-table', message: `section table ends after ${i} entries` });
      truncated = true;
      break;
    }
    const name = cString(st, s, 8);
    const virtualSize = u32(st, s + 8);
    const virtualAddress = u32(st, s + 12);
    const rawSize = u32(st, s + 16);
    // The loader rounds the raw pointer down to 512 bytes when the file alignment is at least that.
    const rawOffset = fileAlignment >= 0x200 ? Math.floor(u32(st, s + 20) / 0x200) * 0x200 : u32(st, s + 20);
    const flags = u32(st, s + 36);
    raw.push({ virtualAddress, virtualSize, rawSize, rawOffset });
    const dataOffset = layout === 'mapped' ? virtualAddress : rawOffset;
    const dataSize = layout === 'mapped' ? virtualSize || rawSize : rawSize;
    const { entropy, sampled } = await entropyOfRange(source, dataOffset, dataSize, deadline);
    const writableExecutable = (flags & 0x20000000) !== 0 && (flags & 0x80000000) !== 0;
    sections.push({
      name,
      virtualAddress: hex(virtualAddress),
      virtualSize,
      rawSize,
      rawOffset,
      entropy,
      ...(sampled ? { entropySampled: true } : {}),
      characteristics: hex(flags),
      flags: flagNames(flags, SECTION_FLAGS),
      writableExecutable,
    });
    if (rawSize > 0 && rawOffset + rawSize > source.size && layout === 'file') {
      anomalies.push({
        code: 'section-beyond-file',
        message: `section ${name} extends past the end of the file`,
      });
    }
  }
  if (sections.some((s) => s.writableExecutable)) {
    anomalies.push({
      code: 'writable-executable-section',
      message: 'a section is both writable and executable',
    });
  }
  // What of the image a section covers: up to the larger of its virtual and raw sizes, as pefile reads it,
  // but never into the next section. Unclipped, a section whose raw size was inflated claimed the RVAs of
  // the sections after it, and the imports read there (and the imphash) were garbage.
  const byAddress = [...raw].sort((a, b) => a.virtualAddress - b.virtualAddress);
  const spans = byAddress.map((s, i) => {
    const size = Math.max(s.virtualSize, s.rawSize);
    const next = byAddress[i + 1]?.virtualAddress;
    const end = s.virtualAddress + size;
    return { section: s, end: next !== undefined && next > s.virtualAddress ? Math.min(end, next) : end };
  });
  if (
    raw.length > 0 &&
    !spans.some(({ section, end }) => entryPoint >= section.virtualAddress && entryPoint < end)
  ) {
    if (entryPoint !== 0)
      anomalies.push({ code: 'entry-outside-sections', message: 'the entry point is in no section' });
  }

  const rvaToOffset = (rva: number): number | null => {
    if (layout === 'mapped') return rva;
    if (rva < sizeOfHeaders || raw.length === 0) return rva < source.size ? rva : null;
    for (const { section: s, end } of spans) {
      if (rva >= s.virtualAddress && rva < end) {
        const within = rva - s.virtualAddress;
        return within < s.rawSize ? s.rawOffset + within : null;
      }
    }
    return null;
  };

  const imports =
    importRva !== 0 && importSize !== 0
      ? await readImports(source, importRva, rvaToOffset, plus, deadline, anomalies)
      : { list: [], count: 0, truncated: false };
  truncated ||= imports.truncated || deadline.expired;

  return {
    format: plus ? 'pe32+' : 'pe32',
    layout,
    machine: hex(machine),
    machineName: MACHINES[machine] ?? 'other',
    timestamp: timestampRaw === 0 ? null : new Date(timestampRaw * 1000).toISOString(),
    timestampRaw,
    characteristics: hex(characteristics),
    characteristicFlags: flagNames(characteristics, FILE_FLAGS),
    subsystem,
    subsystemName: SUBSYSTEMS[subsystem] ?? 'other',
    dllCharacteristics: hex(dllCharacteristics),
    entryPoint: hex(entryPoint),
    imageBase: hex(imageBase),
    sizeOfImage,
    numberOfSections: declaredSections,
    sections,
    importCount: imports.count,
    imports: imports.list,
    imphash: imphash(imports.list),
    anomalies,
    truncated,
  };
}

/** Reads a NUL-terminated string at a file offset (at most `max` bytes). */
async function stringAt(source: ByteSource, offset: number | null, max: number): Promise<string> {
  if (offset === null) return '';
  return cString(await source.read(offset, max), 0, max);
}

async function readImports(
  source: ByteSource,
  importRva: number,
  rvaToOffset: (rva: number) => number | null,
  plus: boolean,
  deadline: Deadline,
  anomalies: Anomaly[],
): Promise<{ list: PeImport[]; count: number; truncated: boolean }> {
  const list: PeImport[] = [];
  let count = 0;
  let truncated = false;
  const thunkSize = plus ? 8 : 4;
  for (let d = 0; d < MAX_DLLS; d++) {
    if (deadline.expired) return { list, count, truncated: true };
    const at = rvaToOffset(importRva + d * 20);
    const descriptor = at === null ? Buffer.alloc(0) : await source.read(at, 20);
    if (!has(descriptor, 0, 20)) {
      anomalies.push({ code: 'bad-import-directory', message: 'the import directory runs out of the image' });
      return { list, count, truncated: true };
    }
    if (descriptor.every((b) => b === 0)) return { list, count, truncated };
    const originalFirstThunk = u32(descriptor, 0);
    const nameRva = u32(descriptor, 12);
    const firstThunk = u32(descriptor, 16);
    const dll = await stringAt(source, rvaToOffset(nameRva), 256);
    if (dll === '') {
      anomalies.push({ code: 'bad-import-name', message: `import descriptor ${d} has no readable DLL name` });
      continue;
    }
    const thunkRva = originalFirstThunk !== 0 ? originalFirstThunk : firstThunk;
    const thunksAt = rvaToOffset(thunkRva);
    const functions: string[] = [];
    let omitted = 0;
    if (thunksAt !== null) {
      const thunks = await source.read(thunksAt, MAX_FUNCTIONS_PER_DLL * thunkSize);
      for (let t = 0; has(thunks, t * thunkSize, thunkSize); t++) {
        const value = plus ? u64(thunks, t * 8) : BigInt(u32(thunks, t * 4));
        if (value === 0n) break;
        if (count >= MAX_FUNCTIONS || deadline.expired) {
          omitted++;
          truncated = true;
          continue;
        }
        const ordinalFlag = plus ? 1n << 63n : 1n << 31n;
        if ((value & ordinalFlag) !== 0n) {
          functions.push(`ord${Number(value & 0xffffn)}`);
        } else {
          const hintName = rvaToOffset(Number(value & 0x7fffffffn));
          const name = await stringAt(source, hintName === null ? null : hintName + 2, 512);
          functions.push(name === '' ? `ord${Number(value & 0xffffn)}` : name);
        }
        count++;
      }
    }
    list.push({ dll, functions, ...(omitted > 0 ? { omitted } : {}) });
  }
  anomalies.push({ code: 'too-many-imports', message: `more than ${MAX_DLLS} imported DLLs` });
  return { list, count, truncated: true };
}

/**
 * pefile's imphash: each import as `<dll without .dll/.ocx/.sys>.<function>` in lower case, ordinals as
 * `ord<N>`, comma-joined, md5. (pefile also names a few well-known ws2_32/oleaut32 ordinals; this does not.)
 */
export function imphash(imports: readonly PeImport[]): string | null {
  const parts: string[] = [];
  for (const entry of imports) {
    let lib = entry.dll.toLowerCase();
    const dot = lib.lastIndexOf('.');
    if (dot > 0 && ['dll', 'ocx', 'sys'].includes(lib.slice(dot + 1))) lib = lib.slice(0, dot);
    for (const fn of entry.functions) parts.push(`${lib}.${fn.toLowerCase()}`);
  }
  if (parts.length === 0) return null;
  return createHash('md5').update(parts.join(',')).digest('hex');
}
