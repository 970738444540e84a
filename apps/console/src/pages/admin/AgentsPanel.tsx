import { Badge, Button, Group, Modal, Stack, Table, Text } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useState } from 'react';
import type { AgentView } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView } from '../../components/AsyncView.js';
import { errorMessage } from '../../lib/api.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';

/** Enrolled agents in id order, page by page; revoking one asks first. */
export function AgentsPanel() {
  const { api } = useSession();
  const [after, setAfter] = useState<string[]>([]);
  const current = after.at(-1);
  const page = useAsync(() => api.agents(current), [current]);
  const [target, setTarget] = useState<AgentView | null>(null);
  const [busy, setBusy] = useState(false);
  const revoke = async (agent: AgentView) => {
    setBusy(true);
    try {
      await api.revokeAgent(agent.id);
      notifications.show({ message: `Agent ${agent.id} revoked`, color: 'teal' });
      setTarget(null);
      page.reload();
    } catch (e) {
      notifications.show({ title: 'Not revoked', message: errorMessage(e), color: 'red' });
    } finally {
      setBusy(false);
    }
  };
  return (
    <AsyncView state={page} label="Loading agents">
      {(p) => (
        <Stack gap="sm">
          <Table striped data-testid="agents">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Agent</Table.Th>
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
                  <Table.Td colSpan={7}>
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
                  <Table.Td>
                    {a.product.name} {a.product.version}
                  </Table.Td>
                  <Table.Td>
                    {a.os.family} {a.os.version}
                  </Table.Td>
                  <Table.Td>{a.country ?? '—'}</Table.Td>
                  <Table.Td>
                    <Badge color={a.consent.participating ? 'teal' : 'gray'} variant="light">
                      {a.consent.participating ? 'participating' : 'not participating'}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{formatTime(a.enrolledAt)}</Table.Td>
                  <Table.Td>
                    {a.revokedAt === null ? (
                      <Button
                        size="compact-xs"
                        color="red"
                        variant="light"
                        onClick={() => setTarget(a)}
                        data-testid="revoke-agent"
                      >
                        Revoke…
                      </Button>
                    ) : (
                      <Badge color="red" variant="outline">
                        revoked {formatTime(a.revokedAt)}
                      </Badge>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          <Group gap="xs">
            <Button
              size="xs"
              variant="default"
              disabled={after.length === 0}
              onClick={() => setAfter(after.slice(0, -1))}
            >
              Previous
            </Button>
            <Button
              size="xs"
              variant="default"
              disabled={p.next === null}
              onClick={() => p.next !== null && setAfter([...after, p.next])}
            >
              Next
            </Button>
          </Group>
          <Modal opened={target !== null} onClose={() => setTarget(null)} title="Revoke this agent?" centered>
            <Stack>
              <Text size="sm">
                Its API key stops working at once; the agent must enroll again to send anything. Agent{' '}
                <Text span ff="monospace" size="xs">
                  {target?.id}
                </Text>
              </Text>
              <Group justify="flex-end">
                <Button variant="default" onClick={() => setTarget(null)}>
                  Keep
                </Button>
                <Button
                  color="red"
                  loading={busy}
                  onClick={() => target !== null && void revoke(target)}
                  data-testid="confirm-revoke"
                >
                  Revoke
                </Button>
              </Group>
            </Stack>
          </Modal>
        </Stack>
      )}
    </AsyncView>
  );
}
