import '../../test/dom.js';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { MantineProvider } from '@mantine/core';
import { cleanup, render, screen, within } from '@testing-library/react';
import type { AnalysisResult, PeSummary } from '#contracts';
import { Analysis } from './Analysis.js';

const pe = (sections: string[]): PeSummary => ({
  format: 'pe32+',
  layout: 'file',
  machine: '0x8664',
  machineName: 'AMD64',
  timestamp: '2026-01-01T00:00:00.000Z',
  timestampRaw: 1767225600,
  characteristics: '0x22',
  characteristicFlags: ['EXECUTABLE_IMAGE'],
  subsystem: 3,
  subsystemName: 'WINDOWS_CUI',
  dllCharacteristics: '0x8160',
  entryPoint: '0x1000',
  imageBase: '0x140000000',
  sizeOfImage: 0x5000,
  numberOfSections: sections.length,
  sections: sections.map((name, i) => ({
    name,
    virtualAddress: `0x${(0x1000 * (i + 1)).toString(16)}`,
    virtualSize: 512,
    rawSize: 512,
    rawOffset: 0x400 + 0x200 * i,
    entropy: 6.5,
    characteristics: '0x60000020',
    flags: ['CODE', 'EXECUTE', 'READ'],
    writableExecutable: name === 'UPX1',
  })),
  importCount: 2,
  imports: [{ dll: 'KERNEL32.dll', functions: ['ExitProcess', 'GetLastError'] }],
  imphash: '0123456789abcdef0123456789abcdef',
  anomalies: [{ code: 'wx-section', message: 'a section is writable and executable' }],
  truncated: false,
});

const mount = (analysis: AnalysisResult | null) =>
  render(
    <MantineProvider>
      <Analysis analysis={analysis} />
    </MantineProvider>,
  );

describe('sample analysis (components)', () => {
  afterEach(() => cleanup());

  it('lists PE sections with their offsets and marks writable-executable ones', () => {
    mount({
      version: 1,
      fileType: { type: 'pe', format: 'PE32+ executable' },
      pe: pe(['.text', 'UPX1']),
      durationMs: 3,
    });
    const table = screen.getByTestId('pe-sections');
    const rows = within(table).getAllByRole('row');
    assert.equal(rows.length, 3);
    assert.match(rows[1]?.textContent ?? '', /\.text.*0x00000400/);
    assert.match(rows[2]?.textContent ?? '', /UPX1.*W\+X/);
    assert.ok(screen.getByText('wx-section'));
    const imports = within(screen.getByTestId('pe-imports')).getAllByRole('row');
    assert.equal(imports.length, 2);
    assert.match(imports[1]?.textContent ?? '', /KERNEL32\.dll.*ExitProcess, GetLastError/);
  });

  it('shows the partition table of a boot record, GPT included', () => {
    mount({
      version: 1,
      fileType: { type: 'unknown', format: 'boot record' },
      bootRecord: {
        sectorSize: 512,
        signature: '0xaa55',
        signatureValid: true,
        scheme: 'gpt',
        partitions: [
          {
            index: 0,
            status: '0x00',
            active: false,
            type: '0xee',
            typeName: 'GPT protective',
            lbaStart: 1,
            sectors: 2047,
            chsStart: [0, 0, 2],
            chsEnd: [0, 32, 33],
          },
        ],
        protectiveMbr: true,
        gpt: {
          signature: 'EFI PART',
          revision: '1.0',
          headerSize: 92,
          headerCrc32: '0x12345678',
          headerCrcValid: true,
          currentLba: 1,
          backupLba: 2047,
          firstUsableLba: 34,
          lastUsableLba: 2014,
          diskGuid: '00000000-0000-0000-0000-000000000001',
          partitionEntryLba: 2,
          partitionEntryCount: 128,
          partitionEntrySize: 128,
          partitionArrayCrc32: '0x9abcdef0',
          partitionArrayCrcValid: true,
          partitions: [
            {
              index: 0,
              typeGuid: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
              typeName: 'EFI System',
              uniqueGuid: '00000000-0000-0000-0000-000000000002',
              firstLba: 34,
              lastLba: 1000,
              attributes: '0x0',
              name: 'esp',
            },
          ],
        },
        vbr: null,
        anomalies: [],
      },
      durationMs: 1,
    });
    assert.match(screen.getByTestId('partition-table').textContent ?? '', /GPT protective/);
    const gpt = screen.getByTestId('gpt-table').textContent ?? '';
    assert.match(gpt, /esp/);
    assert.match(gpt, /EFI System/);
  });

  it('lists the PE images found in a memory region at their offsets', () => {
    mount({
      version: 1,
      fileType: { type: 'unknown', format: 'memory region' },
      memoryRegion: {
        size: 65536,
        protection: 'RWX',
        executable: true,
        writable: true,
        writableExecutable: true,
        entropy: 3.2,
        entropySampled: false,
        peImages: [{ offset: 0x2000, pe: pe(['.text']) }],
        truncated: false,
      },
      durationMs: 2,
    });
    const images = screen.getByTestId('region-images').textContent ?? '';
    assert.match(images, /0x00002000/);
    assert.match(images, /AMD64/);
  });

  it('says when there is no analysis yet', () => {
    mount(null);
    assert.ok(screen.getByText(/Not analyzed yet/));
  });
});
