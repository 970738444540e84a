import {
  Anchor,
  Badge,
  Button,
  Code,
  Grid,
  Group,
  Paper,
  Stack,
  Table,
  Tabs,
  Text,
  Title,
  UnstyledButton,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import type { MatchView, Page, SampleView, ScanView, SightingView } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView, ErrorNote } from '../../components/AsyncView.js';
import { VerdictBadge } from '../../components/Badges.js';
import { Hash } from '../../components/Hash.js';
import { HexView } from '../../components/HexView.js';
import { errorMessage } from '../../lib/api.js';
import { formatBytes, formatTime, hexOffset } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { Analysis } from './Analysis.js';
import { MatchStrings } from '../../components/MatchStrings.js';
import { VisibleText } from '../../components/VisibleText.js';

type Focus = { offset: number; length: number } | null;

function Matches({
  matches,
  onSelect,
  focus,
}: {
  matches: MatchView[];
  onSelect: (f: Focus) => void;
  focus: Focus;
}) {
  if (matches.length === 0) {
    return (
      <Text size="sm" c="dimmed">
        No rule matched.
      </Text>
    );
  }
  return (
    <Stack gap="sm" data-testid="matches">
      {matches.map((m) => (
        <Paper key={`${m.namespace}:${m.rule}`} withBorder p="sm" data-testid="match" data-rule={m.rule}>
          <Group gap="xs" mb={4}>
            <Text fw={600} ff="monospace">
              {m.rule}
            </Text>
            <Text size="xs" c="dimmed">
              <VisibleText value={m.namespace} />
            </Text>
            {m.tags.map((t) => (
              <Badge key={t} size="xs" variant="outline">
                <VisibleText value={t} />
              </Badge>
            ))}
            {m.noisy ? (
              <Badge size="xs" color="gray">
                noisy
              </Badge>
            ) : null}
            {typeof m.meta.severity === 'string' ? (
              <Badge size="xs" variant="light">
                <VisibleText value={m.meta.severity} />
              </Badge>
            ) : null}
          </Group>
          {typeof m.meta.description === 'string' ? (
            <Text size="sm" c="dimmed" mb={4}>
              <VisibleText value={m.meta.description} />
            </Text>
          ) : null}
          <MatchStrings count={m.strings.length}>
            {(shown) =>
              m.strings.slice(0, shown).map((s) => {
                const selected = focus?.offset === s.offset && focus.length === s.length;
                return (
                  <UnstyledButton
                    key={`${s.identifier}@${s.offset}`}
                    onClick={() => onSelect({ offset: s.offset, length: s.length })}
                    data-testid="match-string"
                    data-offset={s.offset}
                    aria-pressed={selected}
                    aria-label={`Show ${s.identifier} at ${hexOffset(s.offset)} in the hex view`}
                  >
                    <Badge
                      variant={selected ? 'filled' : 'light'}
                      style={{ cursor: 'pointer', textTransform: 'none' }}
                    >
                      {s.identifier} @ {hexOffset(s.offset)} ({s.length} B)
                    </Badge>
                  </UnstyledButton>
                );
              })
            }
          </MatchStrings>
        </Paper>
      ))}
    </Stack>
  );
}

/** A list below the sample, one page after another. */
function usePaged<T>(load: (cursor?: string) => Promise<Page<T>>, deps: unknown[]) {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const first = useAsync(() => load(), deps);
  const [more, setMore] = useState<{ loading: boolean; error: unknown }>({
    loading: false,
    error: undefined,
  });
  useEffect(() => {
    if (first.data !== undefined) {
      setItems(first.data.items);
      setCursor(first.data.nextCursor);
    }
  }, [first.data]);
  const loadMore = () => {
    if (cursor === null || cursor === undefined) return;
    setMore({ loading: true, error: undefined });
    load(cursor).then(
      (p) => {
        setItems((prev) => [...prev, ...p.items]);
        setCursor(p.nextCursor);
        setMore({ loading: false, error: undefined });
      },
      (e: unknown) => setMore({ loading: false, error: e }),
    );
  };
  return { first, items, hasMore: typeof cursor === 'string', loadMore, more };
}

function MoreButton({
  paged,
}: {
  paged: { hasMore: boolean; loadMore: () => void; more: { loading: boolean; error: unknown } };
}) {
  return (
    <>
      {paged.more.error === undefined ? null : <ErrorNote error={paged.more.error} />}
      {paged.hasMore ? (
        <Button variant="default" size="xs" onClick={paged.loadMore} loading={paged.more.loading}>
          Load more
        </Button>
      ) : null}
    </>
  );
}

/** `version` changes when the sample gets a sighting: the list is read again. */
function Sightings({ sha256, version }: { sha256: string; version: string }) {
  const { api } = useSession();
  const paged = usePaged<SightingView>((c) => api.sightings(sha256, c), [sha256, version]);
  return (
    <AsyncView state={paged.first} label="Loading sightings">
      {() => (
        <Stack gap="xs">
          <Table.ScrollContainer minWidth={1100}>
            <Table striped verticalSpacing="xs" data-testid="sightings">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Received</Table.Th>
                  <Table.Th>How</Table.Th>
                  <Table.Th>Kind</Table.Th>
                  <Table.Th>File name</Table.Th>
                  <Table.Th>Submitter (pseudonym)</Table.Th>
                  <Table.Th>Country</Table.Th>
                  <Table.Th>Product</Table.Th>
                  <Table.Th>Metadata</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {paged.items.map((s) => (
                  <Table.Tr key={s.id}>
                    <Table.Td>{formatTime(s.receivedAt)}</Table.Td>
                    <Table.Td>{s.source === 'lookup' ? 'hash lookup' : 'upload'}</Table.Td>
                    <Table.Td>{s.kind}</Table.Td>
                    <Table.Td data-testid="sighting-filename">
                      {s.filename === null ? '—' : <VisibleText value={s.filename} />}
                    </Table.Td>
                    <Table.Td ff="monospace" fz="xs">
                      {s.submitter === null ? '—' : `${s.submitter.slice(0, 16)}…`}
                    </Table.Td>
                    <Table.Td>{s.country ?? '—'}</Table.Td>
                    <Table.Td>
                      {s.productVersion === null ? '—' : <VisibleText value={s.productVersion} />}
                    </Table.Td>
                    <Table.Td fz="xs" w={360} maw={360} data-testid="sighting-metadata">
                      <SightingMetadata sighting={s} />
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <MoreButton paged={paged} />
        </Stack>
      )}
    </AsyncView>
  );
}

/** `version` (the latest scan's time) changes when a scan lands, after a rescan: the history is read again. */
function Scans({ sha256, version }: { sha256: string; version: string | null }) {
  const { api } = useSession();
  const paged = usePaged<ScanView>((c) => api.scans(sha256, c), [sha256, version]);
  return (
    <AsyncView state={paged.first} label="Loading the scan history">
      {() => (
        <Stack gap="xs">
          <Table.ScrollContainer minWidth={760}>
            <Table striped verticalSpacing="xs" data-testid="scans">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Finished</Table.Th>
                  <Table.Th>Ruleset</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th>Verdict</Table.Th>
                  <Table.Th>Took</Table.Th>
                  <Table.Th>Rules matched</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {paged.items.map((s) => (
                  <Table.Tr key={s.id}>
                    <Table.Td>{formatTime(s.finishedAt)}</Table.Td>
                    <Table.Td>
                      <VisibleText value={s.ruleset.name} /> v{s.ruleset.version}
                    </Table.Td>
                    <Table.Td>{s.status}</Table.Td>
                    <Table.Td>
                      <VerdictBadge verdict={s.verdict} />
                    </Table.Td>
                    <Table.Td>{s.durationMs} ms</Table.Td>
                    <Table.Td ff="monospace" fz="xs">
                      {s.matches.map((m) => m.rule).join(', ') || '—'}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <MoreButton paged={paged} />
        </Stack>
      )}
    </AsyncView>
  );
}

/**
 * One value of a metadata document: text as it is, a nested object (a memory region's `process`, a
 * fragment's `parent`) as its own rows, and a sha256 in it (a fragment's parent) as a link to that sample.
 */
function MetadataValue({ name, value }: { name: string; value: unknown }) {
  if (typeof value === 'string' && name === 'sha256' && /^[0-9a-f]{64}$/.test(value)) {
    return (
      <Anchor
        component={Link}
        to={`/samples/${value}`}
        ff="monospace"
        fz="xs"
        style={{ wordBreak: 'break-all' }}
        data-testid="metadata-sample-link"
      >
        {value}
      </Anchor>
    );
  }
  if (typeof value === 'string') return <VisibleText value={value} />;
  if (typeof value === 'number' || typeof value === 'boolean') return <>{String(value)}</>;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return (
      <Table withRowBorders={false} verticalSpacing={0} horizontalSpacing="xs">
        <Table.Tbody>
          {Object.entries(value as Record<string, unknown>).map(([k, v]) => (
            <Table.Tr key={k}>
              <Table.Td c="dimmed" w={1} style={{ whiteSpace: 'nowrap', verticalAlign: 'top' }}>
                <VisibleText value={k} />
              </Table.Td>
              <Table.Td>
                <MetadataValue name={k} value={v} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    );
  }
  return (
    <Text span ff="monospace" fz="xs">
      <VisibleText value={JSON.stringify(value)} />
    </Text>
  );
}

/**
 * A sighting's metadata beyond its columns, as rows (a lookup has none): the kind always has its column, the
 * file name when the column shows it as sent (the column has the base name, without control characters).
 */
function SightingMetadata({ sighting }: { sighting: SightingView }) {
  const rest = Object.fromEntries(
    Object.entries(sighting.metadata).filter(
      ([k, v]) => k !== 'kind' && !(k === 'filename' && v === sighting.filename),
    ),
  );
  if (Object.keys(rest).length === 0) return <>—</>;
  return <MetadataValue name="" value={rest} />;
}

function LatestMetadata({ sha256 }: { sha256: string }) {
  const { api } = useSession();
  // Lookups send a hash and no metadata: the context is that of the latest upload.
  const latest = useAsync(() => api.sightings(sha256, undefined, 'upload'), [sha256]);
  return (
    <AsyncView state={latest} label="Loading metadata">
      {(page) => {
        const s = page.items[0];
        if (s === undefined) return <Text c="dimmed">No upload (seen by hash lookups only).</Text>;
        const entries = Object.entries(s.metadata).filter(
          ([k]) => !['sha256', 'md5', 'sha1', 'size', 'kind'].includes(k),
        );
        return (
          <Table withRowBorders={false} verticalSpacing={2} data-testid="kind-metadata">
            <Table.Tbody>
              {entries.map(([k, v]) => (
                <Table.Tr key={k}>
                  <Table.Th w={160} fw={500} c="dimmed" style={{ verticalAlign: 'top' }}>
                    <VisibleText value={k} />
                  </Table.Th>
                  <Table.Td fz="sm" style={{ wordBreak: 'break-word' }}>
                    <MetadataValue name={k} value={v} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        );
      }}
    </AsyncView>
  );
}

function Actions({ sample, onRescanned }: { sample: SampleView; onRescanned: () => void }) {
  const { api, may, identity } = useSession();
  const [busy, setBusy] = useState<'rescan' | 'download' | null>(null);
  const rescan = async () => {
    setBusy('rescan');
    try {
      const queued = await api.rescan(sample.sha256);
      notifications.show({ title: 'Rescan queued', message: `job ${queued.jobId}`, color: 'blue' });
      onRescanned();
    } catch (e) {
      notifications.show({ title: 'Rescan refused', message: errorMessage(e), color: 'red' });
    } finally {
      setBusy(null);
    }
  };
  const download = async () => {
    setBusy('download');
    try {
      const file = await api.download(sample.sha256);
      const url = URL.createObjectURL(file.blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = file.filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      notifications.show({ title: 'Download refused', message: errorMessage(e), color: 'red' });
    } finally {
      setBusy(null);
    }
  };
  return (
    <Group gap="sm">
      {may('POST /v1/samples/{sha256}/rescan') ? (
        <Button
          variant="default"
          onClick={() => void rescan()}
          loading={busy === 'rescan'}
          data-testid="rescan"
        >
          Rescan
        </Button>
      ) : null}
      {may('GET /v1/samples/{sha256}/download') ? (
        <Group gap={6}>
          <Button
            color="red"
            variant="light"
            onClick={() => void download()}
            loading={busy === 'download'}
            data-testid="download"
          >
            Download ZIP
          </Button>
          {identity.downloadPassword === null ? null : (
            <Text size="sm" data-testid="zip-password">
              password: <Code>{identity.downloadPassword}</Code>
            </Text>
          )}
        </Group>
      ) : null}
    </Group>
  );
}

export function SampleDetailPage() {
  const { sha256 = '' } = useParams();
  const { api } = useSession();
  const sample = useAsync(() => api.sample(sha256), [sha256]);
  const [focus, setFocus] = useState<Focus>(null);
  const [waitFor, setWaitFor] = useState<string | null | undefined>(undefined);

  // After a rescan: reload until the scan time changes (or 60 s pass).
  useEffect(() => {
    if (waitFor === undefined) return;
    if (sample.data !== undefined && sample.data.scannedAt !== waitFor) {
      setWaitFor(undefined);
      return;
    }
    const timer = setTimeout(sample.reload, 1500);
    const giveUp = setTimeout(() => setWaitFor(undefined), 60_000);
    return () => {
      clearTimeout(timer);
      clearTimeout(giveUp);
    };
  }, [waitFor, sample.data, sample.reload]);

  return (
    <AsyncView state={sample} label="Loading the sample">
      {(s) => (
        <Stack>
          <Group justify="space-between" align="start">
            <Stack gap={4}>
              <Anchor component={Link} to="/samples" size="sm">
                ← Samples
              </Anchor>
              <Group gap="sm">
                <Title order={2}>Sample</Title>
                <VerdictBadge verdict={s.verdict} status={s.scanStatus} />
                <Badge variant="outline">{s.kind}</Badge>
                {waitFor === undefined ? null : (
                  <Badge color="blue" variant="dot">
                    rescanning…
                  </Badge>
                )}
              </Group>
            </Stack>
            <Actions sample={s} onRescanned={() => setWaitFor(s.scannedAt)} />
          </Group>
          <Grid>
            <Grid.Col span={{ base: 12, md: 6 }}>
              <Paper withBorder p="md" h="100%">
                <Title order={4} mb="xs">
                  Hashes and facts
                </Title>
                <Table withRowBorders={false} verticalSpacing={2} data-testid="hashes">
                  <Table.Tbody>
                    {(
                      [
                        ['sha256', <Hash value={s.sha256} label="sha256" />],
                        ['sha1', <Hash value={s.sha1} label="sha1" />],
                        ['md5', <Hash value={s.md5} label="md5" />],
                        ['Size', `${formatBytes(s.size)} (${s.size} bytes)`],
                        ['First seen', formatTime(s.firstSeen)],
                        ['Last seen', formatTime(s.lastSeen)],
                        ['Sightings', String(s.sightings)],
                        ['File type', s.fileType ?? '—'],
                        [
                          'Verdict from',
                          s.rulesetName === null ? (
                            '—'
                          ) : (
                            <>
                              <VisibleText value={s.rulesetName} /> v{s.rulesetVersion ?? '?'} at{' '}
                              {formatTime(s.scannedAt)}
                            </>
                          ),
                        ],
                      ] as [string, React.ReactNode][]
                    ).map(([k, v]) => (
                      <Table.Tr key={k}>
                        <Table.Th w={120} fw={500} c="dimmed">
                          {k}
                        </Table.Th>
                        <Table.Td>{v}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Paper>
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 6 }}>
              <Paper withBorder p="md" h="100%">
                <Title order={4} mb="xs">
                  Metadata of the latest upload
                </Title>
                <LatestMetadata sha256={s.sha256} />
              </Paper>
            </Grid.Col>
            {/* Side by side only where the hex view's 16-byte rows (about 80 characters) fit beside the
                matches: at 1,280 px they did not, and its ASCII column was cut off. */}
            <Grid.Col span={{ base: 12, xl: 5 }}>
              <Title order={4} mb="xs">
                YARA matches
              </Title>
              <Matches matches={s.matches} onSelect={setFocus} focus={focus} />
            </Grid.Col>
            <Grid.Col span={{ base: 12, xl: 7 }}>
              <Title order={4} mb="xs">
                Preview
              </Title>
              <HexView sha256={s.sha256} size={s.size} focus={focus} onFocus={setFocus} />
            </Grid.Col>
          </Grid>
          <Tabs defaultValue="analysis" keepMounted={false}>
            <Tabs.List>
              <Tabs.Tab value="analysis">Analysis</Tabs.Tab>
              <Tabs.Tab value="sightings" data-testid="tab-sightings">
                Sightings ({s.sightings})
              </Tabs.Tab>
              <Tabs.Tab value="scans" data-testid="tab-scans">
                Scan history
              </Tabs.Tab>
            </Tabs.List>
            <Tabs.Panel value="analysis" pt="md">
              <Analysis analysis={s.analysis} />
            </Tabs.Panel>
            <Tabs.Panel value="sightings" pt="md">
              <Sightings sha256={s.sha256} version={`${s.sightings} ${s.lastSeen}`} />
            </Tabs.Panel>
            <Tabs.Panel value="scans" pt="md">
              <Scans sha256={s.sha256} version={s.scannedAt} />
            </Tabs.Panel>
          </Tabs>
        </Stack>
      )}
    </AsyncView>
  );
}
