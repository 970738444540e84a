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
import { Suspense, useEffect } from 'react';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router';
import { useAuth, useSession } from './auth/AuthContext.js';
import { MoonIcon, SunIcon } from './components/icons.js';
import { VisibleText } from './components/VisibleText.js';
import { pagesFor, titleOf } from './routes.js';

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
  const [opened, { toggle, close }] = useDisclosure();
  const location = useLocation();
  const pages = pagesFor(may);
  const nav = pages.filter((p) => p.nav !== undefined);
  const home = nav[0]?.path;
  const title = titleOf(pages, location.pathname);

  // On a phone the navigation covers the page: choosing a page (or Back) closes it.
  useEffect(close, [location.pathname, close]);
  useEffect(() => {
    document.title = title;
  }, [title]);

  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 200, breakpoint: 'sm', collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Navigation" />
            <Title order={4}>Specimen</Title>
            <Text c="dimmed" size="sm" visibleFrom="xs">
              analyst console
            </Text>
          </Group>
          {/* Who is signed in moves into the navigation below "sm": the header keeps one line at 390 px. */}
          <Group gap="sm" wrap="nowrap" miw={0}>
            <Text size="sm" truncate="end" maw={220} visibleFrom="sm" data-testid="identity">
              <VisibleText value={identity.name} />
            </Text>
            <Badge variant="light" visibleFrom="sm" style={{ flexShrink: 0 }} data-testid="role">
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
        <Group gap="xs" hiddenFrom="sm" p="xs" wrap="nowrap" data-testid="nav-identity">
          <Text size="sm" truncate="end">
            <VisibleText value={identity.name} />
          </Text>
          <Badge variant="light" style={{ flexShrink: 0 }}>
            {identity.role}
          </Badge>
        </Group>
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
