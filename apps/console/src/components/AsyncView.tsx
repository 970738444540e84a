import { Alert, Button, Center, Group, Loader, Text } from '@mantine/core';
import type { ReactNode } from 'react';
import { errorMessage } from '../lib/api.js';
import type { AsyncState } from '../lib/use-async.js';

/** Loading, error (with a retry) or the content: the one way every page shows what it is waiting for. */
export function AsyncView<T>({
  state,
  children,
  label = 'Loading',
}: {
  state: AsyncState<T>;
  children: (data: T) => ReactNode;
  label?: string;
}) {
  if (state.error !== undefined) return <ErrorNote error={state.error} onRetry={state.reload} />;
  if (state.data === undefined) {
    return (
      <Center py="xl" role="status" aria-live="polite">
        <Group gap="sm">
          <Loader size="sm" />
          <Text c="dimmed">{label}…</Text>
        </Group>
      </Center>
    );
  }
  return <>{children(state.data)}</>;
}

export function ErrorNote({
  error,
  onRetry,
  title = 'Something went wrong',
}: {
  error: unknown;
  onRetry?: () => void;
  title?: string;
}) {
  return (
    <Alert color="red" title={title} role="alert">
      <Text size="sm">{errorMessage(error)}</Text>
      {onRetry === undefined ? null : (
        <Button mt="sm" size="xs" variant="light" color="red" onClick={onRetry}>
          Try again
        </Button>
      )}
    </Alert>
  );
}
