import { Anchor, Badge, Button, Group, Paper, Progress, Stack, Table, Text, Title } from '@mantine/core';
import { useRef, useState } from 'react';
import { useDraft } from '../../lib/draft.js';
import { DraftNote } from '../../components/DraftNote.js';
import { Link, useNavigate } from 'react-router';
import type { RetrohuntStatus, RetrohuntSummaryView, RuleDiagnosticView } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView, ErrorNote } from '../../components/AsyncView.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { DiagnosticsList } from '../../yara/Diagnostics.js';
import { YaraEditor, focusLine } from '../../yara/YaraEditor.js';
import { diagnosticsOfError } from '../rule-editor/RuleEditorPage.js';
import { VisibleText } from '../../components/VisibleText.js';

const STATUS_COLOR: Record<RetrohuntStatus, string> = {
  queued: 'gray',
  running: 'blue',
  done: 'teal',
  cancelled: 'yellow',
  failed: 'red',
};

export function RetrohuntStatusBadge({ status }: { status: RetrohuntStatus }) {
  return (
    <Badge color={STATUS_COLOR[status]} variant="light" data-testid="retrohunt-status">
      {status}
    </Badge>
  );
}

/** Scanned of total as a percentage (0 when the total is not known yet). */
export const percent = (h: Pick<RetrohuntSummaryView, 'progress'>): number =>
  h.progress.total === 0 ? 0 : Math.min(100, (100 * h.progress.scanned) / h.progress.total);

const TEMPLATE = `rule hunt_example
{
  strings:
    $a = "example"
  condition:
    $a
}
`;

function NewRetrohunt() {
  const { api } = useSession();
  const navigate = useNavigate();
  const draft = useDraft('retrohunt:new', TEMPLATE);
  const source = draft.value;
  const [diagnostics, setDiagnostics] = useState<RuleDiagnosticView[]>([]);
  const [failure, setFailure] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const start = async () => {
    setBusy(true);
    setFailure(undefined);
    try {
      const hunt = await api.createRetrohunt(source);
      draft.discard(TEMPLATE);
      void navigate(`/retrohunts/${hunt.id}`);
    } catch (e) {
      setDiagnostics(diagnosticsOfError(e) ?? []);
      setFailure(e);
      setBusy(false);
    }
  };
  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Title order={4}>New retrohunt</Title>
        <Text size="sm" c="dimmed">
          Runs these rules over every retained sample, without changing any verdict.
        </Text>
        {draft.restored ? <DraftNote onDiscard={() => draft.discard(TEMPLATE)} /> : null}
        <div ref={box}>
          <YaraEditor
            value={source}
            onChange={draft.edit}
            diagnostics={diagnostics}
            label="Retrohunt rules"
          />
        </div>
        <Group>
          <Button
            onClick={() => void start()}
            loading={busy}
            disabled={source.trim() === ''}
            data-testid="start-retrohunt"
          >
            Start retrohunt
          </Button>
        </Group>
        {failure === undefined ? null : <ErrorNote error={failure} title="Not started" />}
        <DiagnosticsList diagnostics={diagnostics} onSelect={(line) => focusLine(box.current, line)} />
      </Stack>
    </Paper>
  );
}

/** Retrohunts: the list with progress, and a form to start one. */
export function RetrohuntsPage() {
  const { api, may } = useSession();
  const list = useAsync(() => api.retrohunts(), []);
  return (
    <Stack>
      <Title order={2}>Retrohunts</Title>
      {may('POST /v1/retrohunts') ? <NewRetrohunt /> : null}
      <AsyncView state={list} label="Loading retrohunts">
        {(hunts) =>
          hunts.length === 0 ? (
            <Text c="dimmed">No retrohunt yet.</Text>
          ) : (
            <Table.ScrollContainer minWidth={760}>
              <Table striped highlightOnHover data-testid="retrohunts">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Started</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th>Progress</Table.Th>
                    <Table.Th>Rules</Table.Th>
                    <Table.Th>Matches</Table.Th>
                    <Table.Th>By</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {hunts.map((h) => (
                    <Table.Tr key={h.id}>
                      <Table.Td>
                        <Anchor component={Link} to={`/retrohunts/${h.id}`}>
                          {formatTime(h.createdAt)}
                        </Anchor>
                      </Table.Td>
                      <Table.Td>
                        <RetrohuntStatusBadge status={h.status} />
                      </Table.Td>
                      <Table.Td w={220}>
                        <Progress value={percent(h)} size="sm" aria-label="progress" />
                        <Text size="xs" c="dimmed">
                          {h.progress.scanned} / {h.progress.total}
                        </Text>
                      </Table.Td>
                      <Table.Td>{h.ruleCount}</Table.Td>
                      <Table.Td>{h.matchCount}</Table.Td>
                      <Table.Td>
                        {h.createdBy?.name === undefined || h.createdBy.name === null ? (
                          '—'
                        ) : (
                          <VisibleText value={h.createdBy.name} />
                        )}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )
        }
      </AsyncView>
    </Stack>
  );
}
