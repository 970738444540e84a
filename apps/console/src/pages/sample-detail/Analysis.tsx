import { Badge, Group, List, Stack, Table, Text, Title } from '@mantine/core';
import type { AnalysisResult, Anomaly, BootRecordSummary, MemoryRegionSummary, PeSummary } from '#contracts';
import { formatBytes, hexOffset } from '../../lib/format.js';
import { VisibleText } from '../../components/VisibleText.js';

function KeyValues({ rows }: { rows: [string, React.ReactNode][] }) {
  return (
    <Table withRowBorders={false} verticalSpacing={2} w="auto">
      <Table.Tbody>
        {rows.map(([k, v]) => (
          <Table.Tr key={k}>
            <Table.Th w={180} fw={500} c="dimmed">
              {k}
            </Table.Th>
            <Table.Td>{v}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function Anomalies({ list }: { list: Anomaly[] }) {
  if (list.length === 0) return null;
  return (
    <List size="sm" c="orange">
      {list.map((a) => (
        <List.Item key={a.code + a.message}>
          <Text span ff="monospace" size="sm">
            {a.code}
          </Text>
          : <VisibleText value={a.message} />
        </List.Item>
      ))}
    </List>
  );
}

export function PeSections({ pe }: { pe: PeSummary }) {
  return (
    <Table.ScrollContainer minWidth={700}>
      <Table striped verticalSpacing={4} data-testid="pe-sections">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Virtual address</Table.Th>
            <Table.Th>Virtual size</Table.Th>
            <Table.Th>Raw offset</Table.Th>
            <Table.Th>Raw size</Table.Th>
            <Table.Th>Entropy</Table.Th>
            <Table.Th>Flags</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {pe.sections.map((s, i) => (
            <Table.Tr key={`${s.name}-${i}`}>
              <Table.Td ff="monospace">
                <VisibleText value={s.name} />
              </Table.Td>
              <Table.Td ff="monospace">{s.virtualAddress}</Table.Td>
              <Table.Td>{s.virtualSize}</Table.Td>
              <Table.Td ff="monospace">{hexOffset(s.rawOffset)}</Table.Td>
              <Table.Td>{s.rawSize}</Table.Td>
              <Table.Td>{s.entropy === null ? 'not read (time limit)' : s.entropy.toFixed(2)}</Table.Td>
              <Table.Td>
                <Group gap={4}>
                  {s.writableExecutable ? (
                    <Badge color="red" size="xs">
                      W+X
                    </Badge>
                  ) : null}
                  <Text size="xs">{s.flags.join(' ')}</Text>
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function Pe({ pe }: { pe: PeSummary }) {
  return (
    <Stack gap="xs">
      <KeyValues
        rows={[
          ['Format', `${pe.format} (${pe.layout})`],
          ['Machine', pe.machineName],
          ['Subsystem', pe.subsystemName],
          ['Timestamp', pe.timestamp ?? String(pe.timestampRaw)],
          [
            'Entry point',
            <Text ff="monospace" size="sm">
              {pe.entryPoint}
            </Text>,
          ],
          [
            'Image base',
            <Text ff="monospace" size="sm">
              {pe.imageBase}
            </Text>,
          ],
          ['Imports', `${pe.importCount} from ${pe.imports.length} DLLs`],
          [
            'imphash',
            <Text ff="monospace" size="sm">
              {pe.imphash ?? '—'}
            </Text>,
          ],
        ]}
      />
      <Title order={5}>Sections</Title>
      <PeSections pe={pe} />
      <PeImports pe={pe} />
      <Anomalies list={pe.anomalies} />
    </Stack>
  );
}

/** Each DLL with the functions taken from it: what a triage reads first (injection, network, crypto). */
function PeImports({ pe }: { pe: PeSummary }) {
  if (pe.imports.length === 0) return null;
  return (
    <>
      <Title order={5}>Imports</Title>
      <Table.ScrollContainer minWidth={500}>
        <Table striped verticalSpacing={4} data-testid="pe-imports">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>DLL</Table.Th>
              <Table.Th>Functions</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {pe.imports.map((i, n) => (
              <Table.Tr key={`${i.dll}-${n}`}>
                <Table.Td ff="monospace" fz="sm" style={{ verticalAlign: 'top', whiteSpace: 'nowrap' }}>
                  <VisibleText value={i.dll} />
                </Table.Td>
                <Table.Td ff="monospace" fz="xs" style={{ wordBreak: 'break-word' }}>
                  <VisibleText value={i.functions.join(', ')} />
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </>
  );
}

export function PartitionTable({ boot }: { boot: BootRecordSummary }) {
  return (
    <Stack gap="xs">
      <KeyValues
        rows={[
          ['Scheme', boot.scheme],
          ['Sector size', `${boot.sectorSize} B`],
          ['Signature', `${boot.signature} ${boot.signatureValid ? '(valid)' : '(invalid)'}`],
          ['Protective MBR', boot.protectiveMbr ? 'yes' : 'no'],
        ]}
      />
      {boot.partitions.length > 0 ? (
        <Table.ScrollContainer minWidth={600}>
          <Table striped verticalSpacing={4} data-testid="partition-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>#</Table.Th>
                <Table.Th>Active</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>Start LBA</Table.Th>
                <Table.Th>Sectors</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {boot.partitions.map((p) => (
                <Table.Tr key={p.index}>
                  <Table.Td>{p.index}</Table.Td>
                  <Table.Td>{p.active ? 'yes' : ''}</Table.Td>
                  <Table.Td>
                    {p.typeName}{' '}
                    <Text span c="dimmed" ff="monospace" size="xs">
                      ({p.type})
                    </Text>
                  </Table.Td>
                  <Table.Td>{p.lbaStart}</Table.Td>
                  <Table.Td>{p.sectors}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : null}
      {boot.gpt === null ? null : (
        <>
          <Title order={5}>GPT ({boot.gpt.headerCrcValid ? 'header CRC valid' : 'header CRC invalid'})</Title>
          <Table.ScrollContainer minWidth={600}>
            <Table striped verticalSpacing={4} data-testid="gpt-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>#</Table.Th>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Type</Table.Th>
                  <Table.Th>First LBA</Table.Th>
                  <Table.Th>Last LBA</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {boot.gpt.partitions.map((p) => (
                  <Table.Tr key={p.index}>
                    <Table.Td>{p.index}</Table.Td>
                    <Table.Td>
                      <VisibleText value={p.name} />
                    </Table.Td>
                    <Table.Td>{p.typeName}</Table.Td>
                    <Table.Td>{p.firstLba}</Table.Td>
                    <Table.Td>{p.lastLba}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </>
      )}
      {boot.vbr === null ? null : (
        <KeyValues
          rows={[
            ['Filesystem', boot.vbr.filesystem],
            ['OEM id', boot.vbr.oemId],
          ]}
        />
      )}
      <Anomalies list={boot.anomalies} />
    </Stack>
  );
}

function MemoryRegion({ region }: { region: MemoryRegionSummary }) {
  return (
    <Stack gap="xs">
      <KeyValues
        rows={[
          ['Size', formatBytes(region.size)],
          ['Protection', region.protection ?? '—'],
          ['Writable and executable', region.writableExecutable ? 'yes' : 'no'],
          ['Entropy', region.entropy.toFixed(2)],
        ]}
      />
      <Title order={5}>Images in the region ({region.peImages.length})</Title>
      {region.peImages.length === 0 ? (
        <Text size="sm" c="dimmed">
          No PE image found.
        </Text>
      ) : (
        <Table.ScrollContainer minWidth={600}>
          <Table striped verticalSpacing={4} data-testid="region-images">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Offset</Table.Th>
                <Table.Th>Format</Table.Th>
                <Table.Th>Machine</Table.Th>
                <Table.Th>Sections</Table.Th>
                <Table.Th>Entry point</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {region.peImages.map((img) => (
                <Table.Tr key={img.offset}>
                  <Table.Td ff="monospace">{hexOffset(img.offset)}</Table.Td>
                  <Table.Td>{`${img.pe.format} (${img.pe.layout})`}</Table.Td>
                  <Table.Td>{img.pe.machineName}</Table.Td>
                  <Table.Td>{img.pe.sections.map((s) => s.name).join(' ')}</Table.Td>
                  <Table.Td ff="monospace">{img.pe.entryPoint}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}

/** What the analyzers found: PE header and sections, ELF, boot-record partitions, memory-region images. */
export function Analysis({ analysis }: { analysis: AnalysisResult | null }) {
  if (analysis === null) {
    return (
      <Text size="sm" c="dimmed">
        Not analyzed yet: the first scan has not finished.
      </Text>
    );
  }
  return (
    <Stack gap="md" data-testid="analysis">
      <KeyValues
        rows={[
          ['File type', `${analysis.fileType.type} — ${analysis.fileType.format}`],
          ['Analysis took', `${analysis.durationMs} ms`],
        ]}
      />
      {analysis.pe === undefined ? null : (
        <div>
          <Title order={4}>PE</Title>
          <Pe pe={analysis.pe} />
        </div>
      )}
      {analysis.elf === undefined ? null : (
        <div>
          <Title order={4}>ELF</Title>
          <KeyValues
            rows={[
              ['Class', `${analysis.elf.class} ${analysis.elf.endianness}`],
              ['Machine', analysis.elf.machineName],
              ['Type', analysis.elf.type],
              ['Entry', analysis.elf.entry],
              ['Interpreter', analysis.elf.interpreter ?? '—'],
              ['Sections', analysis.elf.sections.map((s) => s.name).join(' ') || '—'],
            ]}
          />
          <Anomalies list={analysis.elf.anomalies} />
        </div>
      )}
      {analysis.bootRecord === undefined ? null : (
        <div>
          <Title order={4}>Boot record</Title>
          <PartitionTable boot={analysis.bootRecord} />
        </div>
      )}
      {analysis.memoryRegion === undefined ? null : (
        <div>
          <Title order={4}>Memory region</Title>
          <MemoryRegion region={analysis.memoryRegion} />
        </div>
      )}
      {analysis.errors === undefined ? null : (
        <Text size="sm" c="red">
          Analyzer errors:{' '}
          {Object.entries(analysis.errors)
            .map(([k, v]) => `${k}: ${v}`)
            .join('; ')}
        </Text>
      )}
    </Stack>
  );
}
