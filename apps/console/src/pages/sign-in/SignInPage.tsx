import { Alert, Button, Center, Group, Paper, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { type FormEvent, useState } from 'react';
import { useAuth } from '../../auth/AuthContext.js';
import { ThemeToggle } from '../../Shell.js';

/** Sign-in with an API token (an analyst's or an admin's, made with POST /v1/tokens). */
export function SignInPage() {
  const { state, signIn } = useAuth();
  const [token, setToken] = useState('');
  const checking = state.status === 'checking';
  const error = state.status === 'signed-out' ? state.error : undefined;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (token.trim() !== '') void signIn(token);
  };

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w={420} maw="100%">
        <form onSubmit={submit}>
          <Stack>
            <Group justify="space-between">
              <Title order={2}>Specimen</Title>
              <ThemeToggle />
            </Group>
            <Text c="dimmed" size="sm">
              Sign in with your API token. It is kept in this tab only and forgotten when the tab closes.
            </Text>
            {error === undefined ? null : (
              <Alert color="red" role="alert" data-testid="sign-in-error">
                {error}
              </Alert>
            )}
            <PasswordInput
              label="API token"
              placeholder="spk_…"
              value={token}
              onChange={(e) => setToken(e.currentTarget.value)}
              autoFocus
              autoComplete="off"
              data-testid="token-input"
            />
            <Button type="submit" loading={checking} disabled={token.trim() === ''} data-testid="sign-in">
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
