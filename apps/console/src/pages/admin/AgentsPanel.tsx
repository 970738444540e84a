import { Badge, Button, Group, Stack, Table, Text } from '@mantine/core';
import { useState } from 'react';
import type { AgentView } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView } from '../../components/AsyncView.js';
import { ConfirmRevoke, RevokeCell, useRevoke } from '../../components/Revoke.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { VisibleText } from '../../components/VisibleText.js';

/** Enrolled agents in id order, page by page; revoking one asks first. */
export function AgentsPanel() {
  const { api } = useSession();
  const [after, setAfter] = useState<string[]>([]);
  const current = after.at(-1);
  const page = useAsync(() => api.agents(current), [current]);
  const revoking = useRevoke(
    (agent: AgentView) => api.revokeAgent(agent.id),
    (agent) => `Agent ${agent.id} revoked`,
    page.reload,
  );
  return (
    <AsyncView state={page} label="Loading agents">
      {(p) => (
        <Stack gap="sm">
          <Table.ScrollContainer minWidth={1000}>
            <Table striped data-testid="agents">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Agent</Table.Th>
                  <Table.Th>Pseudonym (in sightings)</Table.Th>
                  <Table.Th>Product</Table.Th>
                  <Table.Th>OS</Table.Th>
                  <Table.Th>Country</Table.Th>
                  <Table.Th>Consent</Table.Th>
                  <Table.Th>Enrolled</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {p.items.length === 0 ? (
                  <Table.Tr>
                    <Table.Td colSpan={8}>
                      <Text c="dimmed" size="sm">
                        No agent enrolled.
                      </Text>
                    </Table.Td>
                  </Table.Tr>
                ) : null}
                {p.items.map((a) => (
                  <Table.Tr key={a.id} data-testid="agent-row" data-id={a.id}>
                    <Table.Td ff="monospace" fz="xs">
                      {a.id}
                    </Table.Td>
                    <Table.Td
                      ff="monospace"
                      fz="xs"
                      title={a.pseudonym ?? undefined}
                      data-testid="agent-pseudonym"
                    >
                      {a.pseudonym === null ? '—' : `${a.pseudonym.slice(0, 16)}…`}
                    </Table.Td>
                    <Table.Td>
                      <VisibleText value={`${a.product.name} ${a.product.version}`} />
                    </Table.Td>
                    <Table.Td>
                      <VisibleText value={`${a.os.family} ${a.os.version}`} />
                    </Table.Td>
                    <Table.Td>{a.country ?? '—'}</Table.Td>
                    <Table.Td>
                      <Badge color={a.consent.participating ? 'teal' : 'gray'} variant="light">
                        {a.consent.participating ? 'participating' : 'not participating'}
                      </Badge>
                    </Table.Td>
                    <Table.Td>{formatTime(a.enrolledAt)}</Table.Td>
                    <Table.Td>
                      <RevokeCell
                        revokedAt={a.revokedAt}
                        onAsk={() => revoking.ask(a)}
                        testId="revoke-agent"
                      />
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
              disabled={after.length === 0 || page.loading}
              onClick={() => setAfter(after.slice(0, -1))}
            >
              Previous
            </Button>
            <Button
              size="xs"
              variant="default"
              disabled={p.next === null || page.loading}
              onClick={() => p.next !== null && setAfter([...after, p.next])}
            >
              Next
            </Button>
          </Group>
          <ConfirmRevoke state={revoking} title="Revoke this agent?" testId="confirm-revoke">
            <Text size="sm">
              Its API key stops working at once; the agent must enroll again to send anything. Agent{' '}
              <Text span ff="monospace" size="xs">
                {revoking.target?.id}
              </Text>
            </Text>
          </ConfirmRevoke>
        </Stack>
      )}
    </AsyncView>
  );
}
