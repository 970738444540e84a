import { Center, Loader, MantineProvider, createTheme } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { BrowserRouter } from 'react-router';
import { AuthProvider, useAuth } from './auth/AuthContext.js';
import { Shell } from './Shell.js';
import { SignInPage } from './pages/sign-in/SignInPage.js';

const theme = createTheme({
  primaryColor: 'blue',
  fontFamilyMonospace: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace',
  defaultRadius: 'sm',
});

function Gate() {
  const { state } = useAuth();
  if (state.status === 'signed-in') return <Shell />;
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
