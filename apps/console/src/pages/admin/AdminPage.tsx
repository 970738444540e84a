import { Stack, Tabs, Title } from '@mantine/core';
import { useSearchParams } from 'react-router';
import { useSession } from '../../auth/AuthContext.js';
import { AgentsPanel } from './AgentsPanel.js';
import { AuditPanel } from './AuditPanel.js';
import { TokensPanel } from './TokensPanel.js';

/** Administration: agents, enrollment and API tokens, the audit log (the tab is kept in the URL). */
export function AdminPage() {
  const { may } = useSession();
  const [params, setParams] = useSearchParams();
  const tab = params.get('tab') ?? 'agents';
  return (
    <Stack>
      <Title order={2}>Admin</Title>
      <Tabs
        value={tab}
        onChange={(v) => setParams(v === null || v === 'agents' ? {} : { tab: v })}
        keepMounted={false}
      >
        <Tabs.List>
          <Tabs.Tab value="agents">Agents</Tabs.Tab>
          {may('POST /v1/tokens') ? (
            <Tabs.Tab value="tokens" data-testid="tab-tokens">
              Tokens
            </Tabs.Tab>
          ) : null}
          {may('GET /v1/audit') ? (
            <Tabs.Tab value="audit" data-testid="tab-audit">
              Audit log
            </Tabs.Tab>
          ) : null}
        </Tabs.List>
        <Tabs.Panel value="agents" pt="md">
          <AgentsPanel />
        </Tabs.Panel>
        <Tabs.Panel value="tokens" pt="md">
          <TokensPanel />
        </Tabs.Panel>
        <Tabs.Panel value="audit" pt="md">
          <AuditPanel />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
