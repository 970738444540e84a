import {
  ActionIcon,
  AppShell,
  Badge,
  Burger,
  Button,
  Center,
  Group,
  Loader,
  NavLink,
  Stack,
  Text,
  Title,
  Tooltip,
  useComputedColorScheme,
  useMantineColorScheme,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { Suspense } from 'react';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router';
import { useAuth, useSession } from './auth/AuthContext.js';
import { MoonIcon, SunIcon } from './components/icons.js';
import { VisibleText } from './components/VisibleText.js';
import { pagesFor } from './routes.js';

export function ThemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const scheme = useComputedColorScheme('light');
  const next = scheme === 'dark' ? 'light' : 'dark';
  return (
    <Tooltip label={`Switch to the ${next} theme`}>
      <ActionIcon
        variant="default"
        size="lg"
        onClick={() => setColorScheme(next)}
        aria-label={`Switch to the ${next} theme`}
        data-testid="theme-toggle"
      >
        {scheme === 'dark' ? <SunIcon /> : <MoonIcon />}
      </ActionIcon>
    </Tooltip>
  );
}

/** The signed-in frame: header (who, theme, sign-out), role-aware navigation and the pages. */
export function Shell() {
  const { signOut } = useAuth();
  const { identity, may } = useSession();
  const [opened, { toggle }] = useDisclosure();
  const location = useLocation();
  const pages = pagesFor(may);
  const nav = pages.filter((p) => p.nav !== undefined);
  const home = nav[0]?.path;

  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 200, breakpoint: 'sm', collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="sm">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Navigation" />
            <Title order={4}>Specimen</Title>
            <Text c="dimmed" size="sm" visibleFrom="xs">
              analyst console
            </Text>
          </Group>
          <Group gap="sm">
            <Text size="sm" data-testid="identity">
              <VisibleText value={identity.name} />
            </Text>
            <Badge variant="light" data-testid="role">
              {identity.role}
            </Badge>
            <ThemeToggle />
            <Button variant="default" size="xs" onClick={signOut} data-testid="sign-out">
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main">
        <Stack gap={2}>
          {nav.map((p) => (
            <NavLink
              key={p.path}
              component={Link}
              to={p.path}
              label={p.nav}
              active={location.pathname === p.path || location.pathname.startsWith(`${p.path}/`)}
            />
          ))}
        </Stack>
      </AppShell.Navbar>
      <AppShell.Main>
        {home === undefined ? (
          <Center py="xl">
            <Text>
              The {identity.role} role has no page in this console. Sign in with an analyst or admin token.
            </Text>
          </Center>
        ) : (
          <Suspense
            fallback={
              <Center py="xl" role="status">
                <Loader size="sm" />
              </Center>
            }
          >
            <Routes>
              {pages.map((p) => (
                <Route key={p.path} path={p.path} element={<p.component />} />
              ))}
              <Route path="/" element={<Navigate to={home} replace />} />
              <Route
                path="*"
                element={
                  <Center py="xl">
                    <Text>This page does not exist, or your role may not open it.</Text>
                  </Center>
                }
              />
            </Routes>
          </Suspense>
        )}
      </AppShell.Main>
    </AppShell>
  );
}
