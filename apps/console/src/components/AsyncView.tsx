import { Alert, Box, Button, Center, Group, Loader, LoadingOverlay, Text } from '@mantine/core';
import type { ReactNode } from 'react';
import { SpecimenClientError, errorMessage } from '../lib/api.js';
import type { AsyncState } from '../lib/use-async.js';

/**
 * Loading, error (with a retry) or the content, covered while newer content loads: the one way every page
 * shows what it is waiting for.
 */
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
  // Another page or window is on its way: the old one stays, dimmed and covered, until it arrives (a
  // reload of the same thing, such as a poll, refreshes it in place without the cover).
  return (
    <Box pos="relative" aria-busy={state.stale} data-stale={state.stale ? '' : undefined}>
      <LoadingOverlay
        visible={state.stale}
        zIndex={50}
        overlayProps={{ blur: 1, backgroundOpacity: 0.4 }}
        loaderProps={{ size: 'sm' }}
      />
      {children(state.data)}
    </Box>
  );
}

/** A heading that says whose move it is: a refusal of what was asked is not the service failing. */
function titleOf(error: unknown): string {
  if (error instanceof SpecimenClientError) {
    if (error.status === 400) return 'Not accepted: check what was entered';
    if (error.status === 404) return 'Not found';
    if (error.status === 403) return 'Not allowed for this role';
  }
  return 'Something went wrong';
}

/** Asking again can help when the service or the network failed, not when it refused the request. */
function retryable(error: unknown): boolean {
  return (
    !(error instanceof SpecimenClientError) ||
    error.status === 0 ||
    error.status >= 500 ||
    error.status === 429
  );
}

export function ErrorNote({
  error,
  onRetry,
  title = titleOf(error),
}: {
  error: unknown;
  onRetry?: () => void;
  title?: string;
}) {
  return (
    <Alert color="red" title={title} role="alert">
      <Text size="sm">{errorMessage(error)}</Text>
      {onRetry === undefined || !retryable(error) ? null : (
        <Button mt="sm" size="xs" variant="light" color="red" onClick={onRetry}>
          Try again
        </Button>
      )}
    </Alert>
  );
}
