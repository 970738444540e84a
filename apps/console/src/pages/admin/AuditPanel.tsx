import { Button, Code, Group, Stack, Table, Text, TextInput } from '@mantine/core';
import { type FormEvent, useEffect, useState } from 'react';
import { useSearchParams } from 'react-router';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView } from '../../components/AsyncView.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { VisibleText } from '../../components/VisibleText.js';

interface AuditFilters {
  actor: string;
  action: string;
  from: string;
  to: string;
}
const KEYS = ['actor', 'action', 'from', 'to'] as const;

const filtersOf = (params: URLSearchParams): AuditFilters => ({
  actor: params.get('actor') ?? '',
  action: params.get('action') ?? '',
  from: params.get('from') ?? '',
  to: params.get('to') ?? '',
});

/**
 * The audit log, newest first, with its filters and cursor paging. The filters live in the URL (beside
 * `?tab=audit`), so a filtered view survives a reload and can be shared.
 */
export function AuditPanel() {
  const { api } = useSession();
  const [params, setParams] = useSearchParams();
  const filters = filtersOf(params);
  const [draft, setDraft] = useState<AuditFilters>(filters);
  const [cursors, setCursors] = useState<string[]>([]);
  // When the URL's filters change (Back, Forward, a link), the inputs follow them and paging restarts.
  const key = JSON.stringify(filters);
  useEffect(() => {
    setDraft(JSON.parse(key) as AuditFilters);
    setCursors([]);
  }, [key]);
  const cursor = cursors.at(-1);
  const page = useAsync(
    () =>
      api.audit({
        actor: filters.actor.trim() || undefined,
        action: filters.action.trim() || undefined,
        from: filters.from === '' ? undefined : `${filters.from}T00:00:00.000Z`,
        to: filters.to === '' ? undefined : `${filters.to}T23:59:59.999Z`,
        cursor,
      }),
    [filters.actor, filters.action, filters.from, filters.to, cursor],
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setCursors([]);
    setParams((current) => {
      const next = new URLSearchParams(current);
      for (const key of KEYS) {
        const value = draft[key].trim();
        if (value === '') next.delete(key);
        else next.set(key, value);
      }
      return next;
    });
  };
  return (
    <Stack gap="sm">
      <form onSubmit={submit}>
        <Group align="end">
          <TextInput
            label="Actor"
            placeholder="token id or name"
            value={draft.actor}
            onChange={(e) => setDraft({ ...draft, actor: e.currentTarget.value })}
          />
          <TextInput
            label="Action"
            placeholder="sample.download"
            value={draft.action}
            onChange={(e) => setDraft({ ...draft, action: e.currentTarget.value })}
          />
          <TextInput
            type="date"
            label="From"
            value={draft.from}
            onChange={(e) => setDraft({ ...draft, from: e.currentTarget.value })}
          />
          <TextInput
            type="date"
            label="To"
            value={draft.to}
            onChange={(e) => setDraft({ ...draft, to: e.currentTarget.value })}
          />
          <Button type="submit" data-testid="audit-search">
            Filter
          </Button>
        </Group>
      </form>
      <AsyncView state={page} label="Loading the audit log">
        {(p) => (
          <Stack gap="sm">
            <Table.ScrollContainer minWidth={900}>
              <Table striped data-testid="audit" layout="fixed">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th w={180}>At</Table.Th>
                    <Table.Th w={170}>Actor</Table.Th>
                    <Table.Th w={170}>Action</Table.Th>
                    <Table.Th w={220}>Target</Table.Th>
                    <Table.Th>Details</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {p.items.length === 0 ? (
                    <Table.Tr>
                      <Table.Td colSpan={5}>
                        <Text c="dimmed" size="sm">
                          No entry.
                        </Text>
                      </Table.Td>
                    </Table.Tr>
                  ) : null}
                  {p.items.map((a) => (
                    <Table.Tr key={a.id}>
                      <Table.Td style={{ whiteSpace: 'nowrap' }}>{formatTime(a.at)}</Table.Td>
                      <Table.Td style={{ overflowWrap: 'anywhere' }}>
                        <VisibleText value={a.actorName} />
                      </Table.Td>
                      <Table.Td ff="monospace">{a.action}</Table.Td>
                      <Table.Td ff="monospace" fz="xs">
                        <VisibleText
                          value={`${a.targetType}${
                            a.targetId === null
                              ? ''
                              : ` ${a.targetId.slice(0, 20)}${a.targetId.length > 20 ? '…' : ''}`
                          }`}
                        />
                      </Table.Td>
                      <Table.Td>
                        {Object.keys(a.details).length === 0 ? null : (
                          <Code fz="xs" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
                            <VisibleText value={JSON.stringify(a.details)} />
                          </Code>
                        )}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <Group gap="xs">
              <Button
                size="xs"
                variant="default"
                disabled={cursors.length === 0 || page.loading}
                onClick={() => setCursors(cursors.slice(0, -1))}
              >
                Newer
              </Button>
              <Button
                size="xs"
                variant="default"
                disabled={p.nextCursor === null || page.loading}
                onClick={() => p.nextCursor !== null && setCursors([...cursors, p.nextCursor])}
              >
                Older
              </Button>
            </Group>
          </Stack>
        )}
      </AsyncView>
    </Stack>
  );
}
