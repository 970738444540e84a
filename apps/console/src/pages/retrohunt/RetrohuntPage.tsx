import {
  Anchor,
  Badge,
  Button,
  Group,
  Modal,
  Paper,
  Progress,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import type { RetrohuntMatchView } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView, ErrorNote } from '../../components/AsyncView.js';
import { errorMessage } from '../../lib/api.js';
import { formatBytes, formatTime, hexOffset } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { YaraEditor } from '../../yara/YaraEditor.js';
import { RetrohuntStatusBadge, percent } from '../retrohunts/RetrohuntsPage.js';

const LIVE = new Set(['queued', 'running']);
/** String offsets a match shows in its cell: a pattern matching everywhere records thousands. */
const OFFSETS_SHOWN = 16;

/** One retrohunt: live progress while it runs, its matches (each opening the sample), cancel. */
export function RetrohuntPage() {
  const { id = '' } = useParams();
  const { api } = useSession();
  // The rule text (up to 16 MiB) is read once; the progress polls below leave it out.
  const source = useRef<{ id: string; text: string | undefined } | null>(null);
  const hunt = useAsync(async () => {
    const known = source.current?.id === id ? source.current : null;
    const view = await api.retrohunt(id, undefined, known === null);
    if (known === null) source.current = { id, text: view.source };
    return known === null ? view : { ...view, source: known.text };
  }, [id]);
  const [more, setMore] = useState<RetrohuntMatchView[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [moreError, setMoreError] = useState<unknown>(undefined);
  const [opened, { open, close }] = useDisclosure(false);
  const [cancelling, setCancelling] = useState(false);
  const live = hunt.data !== undefined && LIVE.has(hunt.data.status);

  // Live progress: read it again every 1.5 s while the hunt is queued or running.
  const reload = hunt.reload;
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(reload, 1500);
    return () => clearInterval(timer);
  }, [live, reload]);

  const nextCursor = cursor === undefined ? (hunt.data?.nextCursor ?? null) : cursor;
  const loadMore = () => {
    if (nextCursor === null) return;
    api.retrohunt(id, nextCursor).then(
      (page) => {
        setMore((m) => [...m, ...page.matches]);
        setCursor(page.nextCursor);
      },
      (e: unknown) => setMoreError(e),
    );
  };
  const cancel = async () => {
    setCancelling(true);
    try {
      await api.cancelRetrohunt(id);
      notifications.show({ message: 'Retrohunt cancelled', color: 'yellow' });
      close();
      reload();
    } catch (e) {
      notifications.show({ title: 'Not cancelled', message: errorMessage(e), color: 'red' });
    } finally {
      setCancelling(false);
    }
  };

  return (
    <AsyncView state={hunt} label="Loading the retrohunt">
      {(h) => {
        const matches = [...h.matches, ...more];
        return (
          <Stack>
            <Anchor component={Link} to="/retrohunts" size="sm">
              ← Retrohunts
            </Anchor>
            <Group justify="space-between">
              <Group gap="sm">
                <Title order={2}>Retrohunt</Title>
                <RetrohuntStatusBadge status={h.status} />
                {live ? (
                  <Badge variant="dot" color="blue">
                    live
                  </Badge>
                ) : null}
              </Group>
              {live ? (
                <Button color="red" variant="light" onClick={open} data-testid="cancel-retrohunt">
                  Cancel…
                </Button>
              ) : null}
            </Group>
            <Paper withBorder p="md">
              <Progress value={percent(h)} size="lg" animated={live} data-testid="retrohunt-progress" />
              <Group justify="space-between" mt="xs">
                <Text size="sm" data-testid="retrohunt-counts">
                  {h.progress.scanned} of {h.progress.total} samples ({formatBytes(h.progress.bytes)}) ·{' '}
                  {h.matchCount} matches
                  {h.progress.timedOut > 0
                    ? ` · ${h.progress.timedOut} timed out (no match known for them)`
                    : ''}
                </Text>
                <Text size="sm" c="dimmed">
                  created {formatTime(h.createdAt)} by {h.createdBy?.name ?? '—'} · started{' '}
                  {formatTime(h.startedAt)} · finished {formatTime(h.finishedAt)}
                </Text>
              </Group>
              {h.error === null ? null : (
                <Text c="red" size="sm" mt="xs">
                  {h.error}
                </Text>
              )}
            </Paper>
            <Title order={4}>Matches</Title>
            {matches.length === 0 ? (
              <Text c="dimmed" size="sm">
                {live ? 'No match yet.' : 'No sample matched.'}
              </Text>
            ) : (
              <Table.ScrollContainer minWidth={600}>
                <Table striped data-testid="retrohunt-matches">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Sample</Table.Th>
                      <Table.Th>Rule</Table.Th>
                      <Table.Th>Strings</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {matches.map((m) => (
                      <Table.Tr key={`${m.sha256}:${m.rule}`}>
                        <Table.Td>
                          <Anchor component={Link} to={`/samples/${m.sha256}`} ff="monospace" size="sm">
                            {m.sha256.slice(0, 16)}…
                          </Anchor>
                        </Table.Td>
                        <Table.Td ff="monospace">{m.rule}</Table.Td>
                        <Table.Td ff="monospace" fz="xs">
                          {m.strings
                            .slice(0, OFFSETS_SHOWN)
                            .map((s) => `${s.identifier}@${hexOffset(s.offset)}`)
                            .join(' ')}
                          {m.strings.length > OFFSETS_SHOWN
                            ? ` … and ${m.strings.length - OFFSETS_SHOWN} more`
                            : ''}
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            )}
            {moreError === undefined ? null : <ErrorNote error={moreError} />}
            {nextCursor === null ? null : (
              <Button variant="default" size="xs" onClick={loadMore} w="fit-content">
                Load more matches
              </Button>
            )}
            <Title order={4}>Rules</Title>
            <YaraEditor value={h.source ?? ''} readOnly label="Retrohunt rules" />
            <Modal opened={opened} onClose={close} title="Cancel this retrohunt?" centered>
              <Stack>
                <Text size="sm">The matches found so far are kept; no more samples are scanned.</Text>
                <Group justify="flex-end">
                  <Button variant="default" onClick={close}>
                    Keep running
                  </Button>
                  <Button
                    color="red"
                    onClick={() => void cancel()}
                    loading={cancelling}
                    data-testid="confirm-cancel"
                  >
                    Cancel retrohunt
                  </Button>
                </Group>
              </Stack>
            </Modal>
          </Stack>
        );
      }}
    </AsyncView>
  );
}
