import {
  Alert,
  Badge,
  Button,
  Group,
  NumberInput,
  Paper,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { type FormEvent, useState } from 'react';
import { type EnrollmentTokenView, ROLES, type Role, type TokenView } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView } from '../../components/AsyncView.js';
import { Hash } from '../../components/Hash.js';
import { ConfirmRevoke, RevokeCell, useRevoke } from '../../components/Revoke.js';
import { errorMessage } from '../../lib/api.js';
import { enrollmentTokenEnd, formatTime } from '../../lib/format.js';
import { type AsyncState, useAsync } from '../../lib/use-async.js';
import { VisibleText } from '../../components/VisibleText.js';

/** A secret the service shows once: copy it now. */
function OnceSecret({ label, secret, details }: { label: string; secret: string; details: string }) {
  return (
    <Alert color="yellow" title={`${label}: shown once, copy it now`} data-testid="new-secret">
      <Hash value={secret} label={label} />
      <Text size="xs" c="dimmed" mt={4}>
        {details}
      </Text>
    </Alert>
  );
}

function ApiTokenForm({ onCreated }: { onCreated: () => void }) {
  const { api } = useSession();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('analyst');
  const [created, setCreated] = useState<{ token: string; details: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      const t = await api.createToken(name.trim(), role);
      setCreated({ token: t.token, details: `${t.name} (${t.role}), id ${t.id}` });
      setName('');
      onCreated();
    } catch (err) {
      notifications.show({ title: 'No token made', message: errorMessage(err), color: 'red' });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Paper withBorder p="md">
      <form onSubmit={(e) => void submit(e)}>
        <Stack gap="sm">
          <Title order={4}>API token</Title>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput
              label="Name"
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              required
              data-testid="token-name"
            />
            <Select
              label="Role"
              data={[...ROLES]}
              value={role}
              allowDeselect={false}
              onChange={(v) => v !== null && setRole(v)}
            />
          </SimpleGrid>
          <Group>
            <Button type="submit" loading={busy} disabled={name.trim() === ''} data-testid="create-token">
              Create API token
            </Button>
          </Group>
          {created === null ? null : (
            <OnceSecret label="API token" secret={created.token} details={created.details} />
          )}
        </Stack>
      </form>
    </Paper>
  );
}

function EnrollmentTokenForm({ onCreated }: { onCreated: () => void }) {
  const { api } = useSession();
  const [name, setName] = useState('');
  const [days, setDays] = useState<number>(7);
  const [maxUses, setMaxUses] = useState<number>(100);
  const [created, setCreated] = useState<{ id: string; token: string; details: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      const t = await api.createEnrollmentToken({
        ...(name.trim() === '' ? {} : { name: name.trim() }),
        ttlSeconds: Math.round(days * 86400),
        maxUses,
      });
      setCreated({
        id: t.id,
        token: t.token,
        details: `id ${t.id}, up to ${t.maxUses} agents, until ${formatTime(t.expiresAt)}`,
      });
      onCreated();
    } catch (err) {
      notifications.show({ title: 'No enrollment token made', message: errorMessage(err), color: 'red' });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Paper withBorder p="md">
      <form onSubmit={(e) => void submit(e)}>
        <Stack gap="sm">
          <Title order={4}>Enrollment token</Title>
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            <TextInput
              label="Name (optional)"
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              data-testid="enrollment-token-name"
            />
            <NumberInput
              label="Valid for (days)"
              min={1}
              max={366}
              value={days}
              onChange={(v) => setDays(Number(v) || 1)}
            />
            <NumberInput
              label="Agents it may enroll"
              min={1}
              // The API's bound (CreateEnrollmentTokenRequest.maxUses).
              max={10_000_000}
              value={maxUses}
              onChange={(v) => setMaxUses(Number(v) || 1)}
            />
          </SimpleGrid>
          <Group>
            <Button type="submit" loading={busy} data-testid="create-enrollment-token">
              Create enrollment token
            </Button>
          </Group>
          {created === null ? null : (
            <OnceSecret label="enrollment token" secret={created.token} details={created.details} />
          )}
        </Stack>
      </form>
    </Paper>
  );
}

/** Revoke, or why there is nothing left to revoke: revoked, expired or used up. */
function EnrollmentTokenAction({ token, onRevoke }: { token: EnrollmentTokenView; onRevoke: () => void }) {
  const end = enrollmentTokenEnd(token);
  return end === 'expired' || end === 'used up' ? (
    <Badge color="gray" variant="outline" data-testid="enrollment-token-ended">
      {end}
    </Badge>
  ) : (
    <RevokeCell revokedAt={token.revokedAt} onAsk={onRevoke} testId="revoke-enrollment-token" />
  );
}

/** Enrollment tokens, newest first, with how many agents each enrolled; revoking one asks first. */
function EnrollmentTokenList({ state }: { state: AsyncState<{ items: EnrollmentTokenView[] }> }) {
  const { api } = useSession();
  const revoking = useRevoke(
    (token: EnrollmentTokenView) => api.revokeEnrollmentToken(token.id),
    (token) => `Enrollment token ${token.name ?? token.id} revoked`,
    state.reload,
  );
  return (
    <AsyncView state={state} label="Loading enrollment tokens">
      {(list) => (
        <Paper withBorder p="md">
          <Stack gap="sm">
            <Title order={4}>Enrollment tokens</Title>
            <Table.ScrollContainer minWidth={640}>
              <Table striped data-testid="enrollment-tokens">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Agents enrolled</Table.Th>
                    <Table.Th>Expires</Table.Th>
                    <Table.Th>Created</Table.Th>
                    <Table.Th />
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {list.items.length === 0 ? (
                    <Table.Tr>
                      <Table.Td colSpan={5}>
                        <Text c="dimmed" size="sm">
                          No enrollment token yet.
                        </Text>
                      </Table.Td>
                    </Table.Tr>
                  ) : null}
                  {list.items.map((t) => (
                    <Table.Tr key={t.id} data-testid="enrollment-token-row" data-id={t.id}>
                      <Table.Td>
                        {t.name === null ? <Text c="dimmed">{t.id}</Text> : <VisibleText value={t.name} />}
                      </Table.Td>
                      <Table.Td>
                        {t.uses} of {t.maxUses}
                      </Table.Td>
                      <Table.Td>{formatTime(t.expiresAt)}</Table.Td>
                      <Table.Td>{formatTime(t.createdAt)}</Table.Td>
                      <Table.Td>
                        <EnrollmentTokenAction token={t} onRevoke={() => revoking.ask(t)} />
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <ConfirmRevoke
              state={revoking}
              title="Revoke this enrollment token?"
              testId="confirm-revoke-enrollment-token"
            >
              <Text size="sm">
                It enrolls no one else. The {revoking.target?.uses ?? 0} agents it enrolled keep their keys;
                revoke those in the Agents tab.
              </Text>
            </ConfirmRevoke>
          </Stack>
        </Paper>
      )}
    </AsyncView>
  );
}

/** People's API tokens, newest first; revoking one asks first. */
function ApiTokenList({ state }: { state: AsyncState<{ items: TokenView[] }> }) {
  const { api } = useSession();
  const revoking = useRevoke(
    (token: TokenView) => api.revokeToken(token.id),
    (token) => `Token ${token.name} revoked`,
    state.reload,
  );
  return (
    <AsyncView state={state} label="Loading API tokens">
      {(list) => (
        <Paper withBorder p="md">
          <Stack gap="sm">
            <Title order={4}>API tokens</Title>
            <Table.ScrollContainer minWidth={560}>
              <Table striped data-testid="api-tokens">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Role</Table.Th>
                    <Table.Th>Created</Table.Th>
                    <Table.Th />
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {list.items.map((t) => (
                    <Table.Tr key={t.id} data-testid="api-token-row" data-id={t.id} data-name={t.name}>
                      <Table.Td>
                        <VisibleText value={t.name} />
                      </Table.Td>
                      <Table.Td>{t.role}</Table.Td>
                      <Table.Td>{formatTime(t.createdAt)}</Table.Td>
                      <Table.Td>
                        <RevokeCell
                          revokedAt={t.revokedAt}
                          onAsk={() => revoking.ask(t)}
                          testId="revoke-token"
                        />
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <ConfirmRevoke state={revoking} title="Revoke this API token?" testId="confirm-revoke-token">
              <Text size="sm">
                Whoever uses <VisibleText value={revoking.target?.name ?? ''} /> ({revoking.target?.role}) is
                refused from the next request, on every replica. The last admin token cannot be revoked.
              </Text>
            </ConfirmRevoke>
          </Stack>
        </Paper>
      )}
    </AsyncView>
  );
}

export function TokensPanel() {
  const { api } = useSession();
  const tokens = useAsync(() => api.tokens(), []);
  const enrollment = useAsync(() => api.enrollmentTokens(), []);
  return (
    <Stack>
      <ApiTokenForm onCreated={tokens.reload} />
      <ApiTokenList state={tokens} />
      <EnrollmentTokenForm onCreated={enrollment.reload} />
      <EnrollmentTokenList state={enrollment} />
    </Stack>
  );
}
