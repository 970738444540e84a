import { BarChart } from '@mantine/charts';
import { Badge, Card, Group, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useEffect } from 'react';
import { QueueName, type QueuesView, type StatsSeriesView } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView } from '../../components/AsyncView.js';
import { useAsync } from '../../lib/use-async.js';
import { colorOf, formatAge, rankCells, seriesRows } from './series.js';
import { VisibleText } from '../../components/VisibleText.js';

function SeriesChart({ title, series }: { title: string; series: StatsSeriesView }) {
  const { rows, keys } = seriesRows(series);
  return (
    <Paper withBorder p="md">
      <Title order={4} mb="sm">
        {title}
      </Title>
      {rows.length === 0 ? (
        <Text size="sm" c="dimmed" py="xl" ta="center">
          No day of {series.from} – {series.to} has a publishable total yet (fewer than {series.k} agents, or
          not rolled up).
        </Text>
      ) : (
        <BarChart
          h={240}
          data={rows}
          dataKey="date"
          type="stacked"
          withLegend
          series={keys.map((k, i) => ({ name: k, color: colorOf(k, i) }))}
        />
      )}
    </Paper>
  );
}

function Queues({ view }: { view: QueuesView }) {
  const scan = view.queues.find((q) => q.name === QueueName.Scan);
  const healthy = scan !== undefined && scan.workers > 0;
  const pick = (q: QueuesView['queues'][number], state: string) => q.states.find((s) => s.state === state);
  return (
    <Paper withBorder p="md">
      <Group justify="space-between" mb="sm">
        <Title order={4}>Queues and scanner</Title>
        <Badge color={healthy ? 'teal' : 'red'} variant="light" data-testid="scanner-health">
          {healthy
            ? `scanner up (${scan.workers} ${scan.workers === 1 ? 'worker' : 'workers'})`
            : 'no scanner connected'}
        </Badge>
      </Group>
      <Table.ScrollContainer minWidth={560}>
        <Table verticalSpacing={4} data-testid="queues">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Queue</Table.Th>
              <Table.Th>Workers</Table.Th>
              <Table.Th>Waiting</Table.Th>
              <Table.Th>Active</Table.Th>
              <Table.Th>Delayed</Table.Th>
              <Table.Th>Failed</Table.Th>
              <Table.Th>Oldest waiting</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {view.queues.map((q) => {
              const waiting = (pick(q, 'waiting')?.depth ?? 0) + (pick(q, 'prioritized')?.depth ?? 0);
              const oldest = Math.max(
                pick(q, 'waiting')?.oldestAgeSeconds ?? 0,
                pick(q, 'prioritized')?.oldestAgeSeconds ?? 0,
              );
              const failed = pick(q, 'failed')?.depth ?? 0;
              return (
                <Table.Tr key={q.name}>
                  <Table.Td ff="monospace">{q.name}</Table.Td>
                  <Table.Td>{q.workers}</Table.Td>
                  <Table.Td>{waiting}</Table.Td>
                  <Table.Td>{pick(q, 'active')?.depth ?? 0}</Table.Td>
                  <Table.Td>{pick(q, 'delayed')?.depth ?? 0}</Table.Td>
                  <Table.Td c={failed > 0 ? 'red' : undefined}>{failed}</Table.Td>
                  <Table.Td>{waiting === 0 ? '—' : formatAge(oldest)}</Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Paper>
  );
}

function CellsTable({
  title,
  cells,
  testId,
}: {
  title: string;
  cells: { value: string; submissions: number }[];
  testId: string;
}) {
  return (
    <Paper withBorder p="md">
      <Title order={4} mb="sm">
        {title}
      </Title>
      {cells.length === 0 ? (
        <Text size="sm" c="dimmed">
          Nothing published in this period.
        </Text>
      ) : (
        <Table verticalSpacing={4} data-testid={testId}>
          <Table.Tbody>
            {rankCells(cells).map((c) => (
              <Table.Tr key={c.value}>
                <Table.Td
                  ff={c.value === '(other)' ? undefined : 'monospace'}
                  c={c.value === '(other)' ? 'dimmed' : undefined}
                >
                  <VisibleText value={c.value} />
                </Table.Td>
                <Table.Td ta="right">{c.submissions}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Paper>
  );
}

/** Submissions over time, top rules, countries (k-anonymous), queues and the scanner's health. */
export function DashboardPage() {
  const { api } = useSession();
  const overview = useAsync(() => api.statsOverview(), []);
  const byKind = useAsync(() => api.statsSeries('kind'), []);
  const byVerdict = useAsync(() => api.statsSeries('verdict'), []);
  const queues = useAsync(() => api.queues(), []);
  // Queue depths move by the second: read them again every 10 s while the page is open.
  const reloadQueues = queues.reload;
  useEffect(() => {
    const timer = setInterval(reloadQueues, 10_000);
    return () => clearInterval(timer);
  }, [reloadQueues]);

  return (
    <Stack>
      <Title order={2}>Dashboard</Title>
      <AsyncView state={queues} label="Reading the queues">
        {(view) => <Queues view={view} />}
      </AsyncView>
      <AsyncView state={overview} label="Loading statistics">
        {(o) => (
          <Stack>
            <SimpleGrid cols={{ base: 1, sm: 3 }}>
              <Card withBorder>
                <Text size="sm" c="dimmed">
                  Submissions {o.from} – {o.to}
                </Text>
                <Text fz={28} fw={700} data-testid="total">
                  {o.total}
                </Text>
              </Card>
              <Card withBorder>
                <Text size="sm" c="dimmed">
                  Malicious verdicts
                </Text>
                <Text fz={28} fw={700}>
                  {o.byVerdict.find((c) => c.value === 'malicious')?.submissions ?? 0}
                </Text>
              </Card>
              <Card withBorder>
                <Text size="sm" c="dimmed">
                  k-anonymity threshold
                </Text>
                <Text fz={28} fw={700}>
                  {o.k} agents
                </Text>
              </Card>
            </SimpleGrid>
            <SimpleGrid cols={{ base: 1, lg: 2 }}>
              <AsyncView state={byKind}>
                {(s) => <SeriesChart title="Submissions by kind" series={s} />}
              </AsyncView>
              <AsyncView state={byVerdict}>
                {(s) => <SeriesChart title="Submissions by verdict" series={s} />}
              </AsyncView>
              <CellsTable title="Top rules" cells={o.topRules} testId="top-rules" />
              <Stack gap={4}>
                <CellsTable title="Countries" cells={o.byCountry} testId="countries" />
                <Text size="xs" c="dimmed">
                  Only countries seen by at least {o.k} distinct agents are named; the rest are counted as
                  (other).
                </Text>
              </Stack>
            </SimpleGrid>
          </Stack>
        )}
      </AsyncView>
    </Stack>
  );
}
