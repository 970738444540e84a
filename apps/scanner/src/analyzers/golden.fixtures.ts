// Golden inputs for the analyzer tests, built from scratch (no sample binaries in git).
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PeImportSpec {
  dll: string;
  /** Names, or numbers for imports by ordinal. */
  functions: Array<string | number>;
}

/** The imports of {@link buildPe}'s image, and the pefile imphash of that list (checked with pefile 2023.2.7). */
export const GOLDEN_PE_IMPORTS: PeImportSpec[] = [
  { dll: 'KERNEL32.dll', functions: ['LoadLibraryA', 'GetProcAddress'] },
  { dll: 'USER32.dll', functions: [17, 'MessageBoxA'] },
];

/**
 * A minimal valid PE32+ (amd64, console) with `.text` (code), `.rdata` (import table) and `.data`
 * (writable and executable), file alignment 0x200, section alignment 0x1000, 0x800 bytes long.
 */
export function buildPe(imports: PeImportSpec[] = GOLDEN_PE_IMPORTS): Buffer {
  const b = Buffer.alloc(0x800);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('This program cannot be run in DOS mode.', 0x4e, 'latin1');
  const pe = 0x80;
  b.write('PE\0\0', pe, 'latin1');
  const coff = pe + 4;
  b.writeUInt16LE(0x8664, coff);
  b.writeUInt16LE(3, coff + 2);
  b.writeUInt32LE(0x5f000000, coff + 4);
  b.writeUInt16LE(240, coff + 16);
  b.writeUInt16LE(0x0022, coff + 18);
  const opt = coff + 20;
  b.writeUInt16LE(0x20b, opt);
  b.writeUInt32LE(0x200, opt + 4);
  b.writeUInt32LE(0x1000, opt + 16);
  b.writeUInt32LE(0x1000, opt + 20);
  b.writeBigUInt64LE(0x140000000n, opt + 24);
  b.writeUInt32LE(0x1000, opt + 32);
  b.writeUInt32LE(0x200, opt + 36);
  b.writeUInt16LE(6, opt + 40);
  b.writeUInt16LE(6, opt + 48);
  b.writeUInt32LE(0x4000, opt + 56);
  b.writeUInt32LE(0x200, opt + 60);
  b.writeUInt16LE(3, opt + 68);
  b.writeUInt16LE(0x8160, opt + 70);
  b.writeBigUInt64LE(0x100000n, opt + 72);
  b.writeBigUInt64LE(0x1000n, opt + 80);
  b.writeBigUInt64LE(0x100000n, opt + 88);
  b.writeBigUInt64LE(0x1000n, opt + 96);
  b.writeUInt32LE(16, opt + 108);
  b.writeUInt32LE(0x2000, opt + 112 + 8);
  b.writeUInt32LE(20 * (imports.length + 1), opt + 112 + 12);
  const sections: Array<[string, number, number, number]> = [
    ['.text', 0x1000, 0x200, 0x60000020],
    ['.rdata', 0x2000, 0x400, 0x40000040],
    ['.data', 0x3000, 0x600, 0xe0000040],
  ];
  sections.forEach(([name, va, raw, flags], i) => {
    const s = opt + 240 + i * 40;
    b.write(name, s, 'latin1');
    b.writeUInt32LE(0x200, s + 8);
    b.writeUInt32LE(va, s + 12);
    b.writeUInt32LE(0x200, s + 16);
    b.writeUInt32LE(raw, s + 20);
    b.writeUInt32LE(flags, s + 36);
  });
  // .text: a `ret` then bytes of every value (high entropy); .data stays zero (entropy 0).
  b[0x200] = 0xc3;
  for (let i = 1; i < 0x200; i++) b[0x200 + i] = (i * 167) & 0xff;
  // .rdata: descriptors, then per DLL its name, lookup table, address table and hint/name entries.
  const rva = (offset: number) => 0x2000 + (offset - 0x400);
  let cursor = 0x400 + 20 * (imports.length + 1);
  imports.forEach((imp, d) => {
    const descriptor = 0x400 + d * 20;
    const nameAt = cursor;
    cursor += b.write(`${imp.dll}\0`, cursor, 'latin1');
    cursor = (cursor + 7) & ~7;
    const lookup = cursor;
    cursor += 8 * (imp.functions.length + 1);
    const address = cursor;
    cursor += 8 * (imp.functions.length + 1);
    imp.functions.forEach((fn, f) => {
      let thunk: bigint;
      if (typeof fn === 'number') {
        thunk = (1n << 63n) | BigInt(fn);
      } else {
        thunk = BigInt(rva(cursor));
        cursor += 2 + b.write(`${fn}\0`, cursor + 2, 'latin1');
        cursor = (cursor + 1) & ~1;
      }
      b.writeBigUInt64LE(thunk, lookup + f * 8);
      b.writeBigUInt64LE(thunk, address + f * 8);
    });
    b.writeUInt32LE(rva(lookup), descriptor);
    b.writeUInt32LE(rva(nameAt), descriptor + 12);
    b.writeUInt32LE(rva(address), descriptor + 16);
  });
  if (cursor > 0x600) throw new Error('import table does not fit .rdata');
  return b;
}

/** An ELF executable compiled by gcc from a small C file. */
export async function gccElf(): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'specimen-elf-'));
  try {
    await writeFile(join(dir, 'hello.c'), 'int main(void) { return 42; }\n');
    execFileSync('gcc', ['-O1', '-o', join(dir, 'hello'), join(dir, 'hello.c')], { stdio: 'pipe' });
    return await readFile(join(dir, 'hello'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A stored (uncompressed) zip of `files`, with a central directory. */
export function buildZip(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const local = Buffer.alloc(30 + name.length);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.write(name, 30, 'latin1');
    const central = Buffer.alloc(46 + name.length);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    central.write(name, 46, 'latin1');
    locals.push(local, data);
    centrals.push(central);
    offset += local.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(centrals.length, 8);
  eocd.writeUInt16LE(centrals.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

/** A FAT32-like or NTFS-like volume boot sector (jump, OEM id, BPB fields, 0x55AA). */
export function buildVbr(filesystem: 'ntfs' | 'fat32'): Buffer {
  const b = Buffer.alloc(512);
  b.set([0xeb, 0x52, 0x90], 0);
  b.write(filesystem === 'ntfs' ? 'NTFS    ' : 'MSWIN4.1', 3, 'latin1');
  b.writeUInt16LE(512, 11);
  if (filesystem === 'fat32') b.write('FAT32   ', 82, 'latin1');
  b.writeUInt16LE(0xaa55, 510);
  return b;
}
