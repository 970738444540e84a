import { Anchor, Button, Group, Stack, Table, Text, Title } from '@mantine/core';
import { Link } from 'react-router';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView } from '../../components/AsyncView.js';
import { RulesetStatusBadge } from '../../components/Badges.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { VisibleText } from '../../components/VisibleText.js';

/** Every ruleset version with its status; the active one first. */
export function RulesPage() {
  const { api, may } = useSession();
  const list = useAsync(() => api.rulesets(), []);
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Rules</Title>
        {may('POST /v1/rulesets') ? (
          <Button component={Link} to="/rules/new" data-testid="new-ruleset">
            New ruleset version
          </Button>
        ) : null}
      </Group>
      <AsyncView state={list} label="Loading rulesets">
        {(rulesets) => {
          const sorted = [...rulesets].sort(
            (a, b) =>
              Number(b.status === 'active') - Number(a.status === 'active') ||
              a.name.localeCompare(b.name) ||
              b.version - a.version,
          );
          return (
            <Table.ScrollContainer minWidth={800}>
              <Table striped highlightOnHover data-testid="rulesets">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Version</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th>Rules</Table.Th>
                    <Table.Th>Quarantined</Table.Th>
                    <Table.Th>Created</Table.Th>
                    <Table.Th>Activated</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {sorted.map((r) => (
                    <Table.Tr
                      key={r.id}
                      data-testid="ruleset-row"
                      data-name={r.name}
                      data-version={r.version}
                    >
                      <Table.Td>
                        <Anchor component={Link} to={`/rules/${r.id}`}>
                          <VisibleText value={r.name} />
                        </Anchor>
                      </Table.Td>
                      <Table.Td>v{r.version}</Table.Td>
                      <Table.Td>
                        <RulesetStatusBadge status={r.status} />
                      </Table.Td>
                      <Table.Td>{r.ruleCount}</Table.Td>
                      <Table.Td>
                        {r.quarantined.length === 0 ? (
                          '—'
                        ) : (
                          <Text size="sm" c="red" ff="monospace">
                            {r.quarantined.join(', ')}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td>
                        {formatTime(r.createdAt)}
                        {r.createdBy === null ? '' : ' by '}
                        {r.createdBy === null ? null : (
                          <VisibleText value={r.createdBy.name ?? r.createdBy.id} />
                        )}
                      </Table.Td>
                      <Table.Td>
                        {formatTime(r.activatedAt)}
                        {r.activatedBy === null ? '' : ' by '}
                        {r.activatedBy === null ? null : (
                          <VisibleText value={r.activatedBy.name ?? r.activatedBy.id} />
                        )}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          );
        }}
      </AsyncView>
    </Stack>
  );
}
