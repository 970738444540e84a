import {
  Alert,
  Badge,
  Button,
  Center,
  Group,
  Loader,
  MantineProvider,
  Paper,
  Stack,
  Text,
  createTheme,
} from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { useEffect } from 'react';
import { BrowserRouter } from 'react-router';
import { AuthProvider, useAuth } from './auth/AuthContext.js';
import { errorMessage } from './lib/api.js';
import { Shell } from './Shell.js';
import { SignInPage } from './pages/sign-in/SignInPage.js';

const theme = createTheme({
  primaryColor: 'blue',
  fontFamilyMonospace: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace',
  defaultRadius: 'sm',
  components: {
    // A badge is a word or two that must be read whole ("participating", "revoked 2026-…"): Mantine
    // lets a table column squeeze one to "PARTICIPA…"; it keeps its width and the table scrolls instead.
    Badge: Badge.extend({ styles: { root: { flexShrink: 0, minWidth: 'max-content' } } }),
  },
});

/** The kept token could not be checked: it stays kept, and the person may try again or sign out. */
function Unreachable({ error }: { error: unknown }) {
  const { retry, signOut } = useAuth();
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w={420} maw="100%">
        <Stack>
          <Alert color="red" title="Cannot reach the service" role="alert" data-testid="unreachable">
            <Text size="sm">{errorMessage(error)}</Text>
            <Text size="sm" mt="xs">
              Your token is still kept in this tab: try again in a moment.
            </Text>
          </Alert>
          <Group justify="flex-end">
            <Button variant="default" onClick={signOut} data-testid="unreachable-sign-out">
              Sign out
            </Button>
            <Button onClick={() => void retry()} data-testid="unreachable-retry">
              Try again
            </Button>
          </Group>
        </Stack>
      </Paper>
    </Center>
  );
}

function Gate() {
  const { state } = useAuth();
  useEffect(() => {
    // The signed-in shell names each page itself.
    if (state.status === 'signed-out') document.title = 'Sign in — Specimen';
    else if (state.status === 'unreachable') document.title = 'Cannot reach the service — Specimen';
  }, [state.status]);
  if (state.status === 'signed-in') return <Shell />;
  if (state.status === 'unreachable') return <Unreachable error={state.error} />;
  if (state.status === 'checking') {
    return (
      <Center mih="100vh" role="status">
        <Loader />
      </Center>
    );
  }
  return <SignInPage />;
}

export function App({ baseUrl, storage }: { baseUrl: string; storage: Storage }) {
  return (
    <MantineProvider theme={theme} defaultColorScheme="auto">
      <Notifications position="top-right" />
      <AuthProvider baseUrl={baseUrl} storage={storage}>
        <BrowserRouter>
          <Gate />
        </BrowserRouter>
      </AuthProvider>
    </MantineProvider>
  );
}
