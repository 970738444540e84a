import {
  Badge,
  Button,
  Group,
  Paper,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  UnstyledButton,
} from '@mantine/core';
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { useLocation, useSearchParams } from 'react-router';
import { FILE_TYPES, SAMPLE_KINDS, type SampleSort, VERDICTS } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView } from '../../components/AsyncView.js';
import { VerdictBadge } from '../../components/Badges.js';
import { Hash } from '../../components/Hash.js';
import { formatBytes, formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import {
  EMPTY_FILTERS,
  type SampleFilters,
  activeFilterCount,
  apiQuery,
  filtersFromParams,
  filtersToParams,
  toggleSort,
} from './query.js';

function SortHeader({
  column,
  label,
  filters,
  onSort,
}: {
  column: SampleSort;
  label: string;
  filters: SampleFilters;
  onSort: (c: SampleSort) => void;
}) {
  const active = filters.sort === column;
  const arrow = active ? (filters.order === 'desc' ? ' ↓' : ' ↑') : '';
  return (
    <Table.Th aria-sort={active ? (filters.order === 'desc' ? 'descending' : 'ascending') : 'none'}>
      <UnstyledButton onClick={() => onSort(column)} fw={600} fz="sm" data-testid={`sort-${column}`}>
        {label}
        {arrow}
      </UnstyledButton>
    </Table.Th>
  );
}

/** The previous pages' cursors kept in a history entry's state; none when it holds something else. */
function previousCursors(state: unknown): string[] {
  const previous = (state as { previous?: unknown } | null)?.previous;
  return Array.isArray(previous) && previous.every((c) => typeof c === 'string') ? previous : [];
}

export function SamplesPage() {
  const { api } = useSession();
  const [params, setParams] = useSearchParams();
  const filters = filtersFromParams(params);
  const [draft, setDraft] = useState<SampleFilters>(filters);
  // The cursors of the pages before this one, to step back (the API pages forward only): kept in the
  // history entry's state, so a reload, Back and Forward keep them; a shared link steps back to page 1.
  const location = useLocation();
  const previous = previousCursors(location.state);
  const key = params.toString();

  useEffect(() => setDraft(filtersFromParams(new URLSearchParams(key))), [key]);

  const page = useAsync(() => api.searchSamples(apiQuery(filters)), [key]);
  // The page asked for and not shown yet: a second click before the next render (a double click on Next)
  // would push the same page again, and Back would then need two steps.
  const going = useRef<string | null>(null);
  useEffect(() => {
    going.current = null;
  }, [key]);
  const go = (next: SampleFilters, before: string[] = []) => {
    const target = filtersToParams(next);
    if (target.toString() === going.current) return;
    going.current = target.toString();
    setParams(target, { state: { previous: before } });
  };
  const set = <K extends keyof SampleFilters>(k: K, v: SampleFilters[K]) => setDraft({ ...draft, [k]: v });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    go({ ...draft, cursor: '' });
  };
  const dateInput = (k: keyof SampleFilters, label: string) => (
    <TextInput type="date" label={label} value={draft[k]} onChange={(e) => set(k, e.currentTarget.value)} />
  );

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Samples</Title>
        {activeFilterCount(filters) > 0 ? (
          <Badge variant="light">
            {activeFilterCount(filters)} {activeFilterCount(filters) === 1 ? 'filter' : 'filters'}
          </Badge>
        ) : null}
      </Group>
      <Paper withBorder p="md">
        <form onSubmit={submit} aria-label="Search samples">
          <Stack gap="sm">
            <SimpleGrid cols={{ base: 1, sm: 2, lg: 4 }}>
              <TextInput
                label="Hash"
                placeholder="md5, sha1 or sha256"
                value={draft.hash}
                onChange={(e) => set('hash', e.currentTarget.value)}
                data-testid="filter-hash"
              />
              <Select
                label="Kind"
                placeholder="any"
                data={SAMPLE_KINDS.map((k) => ({ value: k, label: k }))}
                value={draft.kind === '' ? null : draft.kind}
                onChange={(v) => set('kind', v ?? '')}
                clearable
                data-testid="filter-kind"
              />
              <Select
                label="Verdict"
                placeholder="any"
                data={VERDICTS.map((v) => ({ value: v, label: v }))}
                value={draft.verdict === '' ? null : draft.verdict}
                onChange={(v) => set('verdict', v ?? '')}
                clearable
                data-testid="filter-verdict"
              />
              <TextInput
                label="Rule"
                placeholder="matched in the latest scan"
                value={draft.rule}
                onChange={(e) => set('rule', e.currentTarget.value)}
                data-testid="filter-rule"
              />
              <TextInput
                label="Tag"
                placeholder="of a matching rule"
                value={draft.tag}
                onChange={(e) => set('tag', e.currentTarget.value)}
              />
              <Select
                label="File type"
                placeholder="any"
                data={FILE_TYPES.map((t) => ({ value: t, label: t }))}
                value={draft.fileType === '' ? null : draft.fileType}
                onChange={(v) => set('fileType', v ?? '')}
                clearable
                data-testid="filter-file-type"
              />
              <TextInput
                label="Country"
                placeholder="of an agent that saw it (DE, FR…)"
                maxLength={2}
                value={draft.country}
                onChange={(e) => set('country', e.currentTarget.value)}
                data-testid="filter-country"
              />
              <Group grow gap="xs">
                <TextInput
                  label="Size from (bytes)"
                  type="number"
                  min={0}
                  value={draft.sizeMin}
                  onChange={(e) => set('sizeMin', e.currentTarget.value)}
                />
                <TextInput
                  label="to"
                  type="number"
                  min={0}
                  value={draft.sizeMax}
                  onChange={(e) => set('sizeMax', e.currentTarget.value)}
                />
              </Group>
              <Group grow gap="xs">
                {dateInput('firstSeenFrom', 'First seen from')}
                {dateInput('firstSeenTo', 'to')}
              </Group>
              <Group grow gap="xs">
                {dateInput('lastSeenFrom', 'Last seen from')}
                {dateInput('lastSeenTo', 'to')}
              </Group>
            </SimpleGrid>
            <Group>
              <Button type="submit" data-testid="search">
                Search
              </Button>
              <Button variant="default" onClick={() => go(EMPTY_FILTERS)}>
                Clear
              </Button>
            </Group>
          </Stack>
        </form>
      </Paper>
      <AsyncView state={page} label="Searching">
        {(result) => (
          <Stack gap="sm">
            <Table.ScrollContainer minWidth={900}>
              <Table striped highlightOnHover verticalSpacing="xs" data-testid="samples-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>sha256</Table.Th>
                    <Table.Th>Kind</Table.Th>
                    <SortHeader
                      column="size"
                      label="Size"
                      filters={filters}
                      onSort={(c) => go(toggleSort(filters, c))}
                    />
                    <Table.Th>Verdict</Table.Th>
                    <Table.Th>Sightings</Table.Th>
                    <SortHeader
                      column="firstSeen"
                      label="First seen"
                      filters={filters}
                      onSort={(c) => go(toggleSort(filters, c))}
                    />
                    <SortHeader
                      column="lastSeen"
                      label="Last seen"
                      filters={filters}
                      onSort={(c) => go(toggleSort(filters, c))}
                    />
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {result.items.length === 0 ? (
                    <Table.Tr>
                      <Table.Td colSpan={7}>
                        <Text c="dimmed" ta="center" py="md">
                          No sample matches these filters.
                        </Text>
                      </Table.Td>
                    </Table.Tr>
                  ) : (
                    result.items.map((s) => (
                      <Table.Tr key={s.sha256} data-testid="sample-row" data-sha256={s.sha256}>
                        <Table.Td>
                          <Hash value={s.sha256} label="sha256" truncate to={`/samples/${s.sha256}`} />
                        </Table.Td>
                        <Table.Td>{s.kind}</Table.Td>
                        <Table.Td>{formatBytes(s.size)}</Table.Td>
                        <Table.Td>
                          <VerdictBadge verdict={s.verdict} status={s.scanStatus} />
                        </Table.Td>
                        <Table.Td>{s.sightings}</Table.Td>
                        <Table.Td>{formatTime(s.firstSeen)}</Table.Td>
                        <Table.Td>{formatTime(s.lastSeen)}</Table.Td>
                      </Table.Tr>
                    ))
                  )}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <Group justify="space-between">
              <Text size="sm" c="dimmed">
                {result.items.length} on this page
              </Text>
              <Group gap="xs">
                <Button
                  variant="default"
                  size="xs"
                  disabled={filters.cursor === '' || page.loading}
                  onClick={() => go({ ...filters, cursor: previous.at(-1) ?? '' }, previous.slice(0, -1))}
                  data-testid="page-previous"
                >
                  Previous
                </Button>
                <Button
                  variant="default"
                  size="xs"
                  disabled={result.nextCursor === null || page.loading}
                  onClick={() =>
                    go({ ...filters, cursor: result.nextCursor ?? '' }, [...previous, filters.cursor])
                  }
                  data-testid="page-next"
                >
                  Next
                </Button>
              </Group>
            </Group>
          </Stack>
        )}
      </AsyncView>
    </Stack>
  );
}
