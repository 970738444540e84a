import { type ComponentType, type ReactNode, lazy } from 'react';

/**
 * A page's module, loaded when the page is first opened: the editor (CodeMirror) and the charts
 * (Recharts) are only fetched by the pages that use them, so signing in and searching stay light.
 */
const page = <K extends string>(load: () => Promise<Record<K, () => ReactNode>>, name: K): ComponentType =>
  lazy(async () => {
    const component: () => ReactNode = (await load())[name];
    return { default: component };
  });

/**
 * The console's pages: the one place routing and navigation are declared. A page is shown (and listed
 * in the navigation when it has a `nav` label) only when the signed-in token's role may call `requires`,
 * as `GET /v1/me` reports. To add a page: a folder under pages/, then one entry here.
 */
export interface PageDef {
  path: string;
  component: ComponentType;
  /** The API route the page cannot work without. */
  requires: string;
  /** Label in the navigation; pages reached from others (a sample, a ruleset) have none. */
  nav?: string;
}

export const PAGES: PageDef[] = [
  {
    path: '/dashboard',
    component: page(() => import('./pages/dashboard/DashboardPage.js'), 'DashboardPage'),
    requires: 'GET /v1/stats/overview',
    nav: 'Dashboard',
  },
  {
    path: '/samples',
    component: page(() => import('./pages/samples/SamplesPage.js'), 'SamplesPage'),
    requires: 'GET /v1/samples',
    nav: 'Samples',
  },
  {
    path: '/samples/:sha256',
    component: page(() => import('./pages/sample-detail/SampleDetailPage.js'), 'SampleDetailPage'),
    requires: 'GET /v1/samples/{sha256}',
  },
  {
    path: '/rules',
    component: page(() => import('./pages/rules/RulesPage.js'), 'RulesPage'),
    requires: 'GET /v1/rulesets',
    nav: 'Rules',
  },
  {
    path: '/rules/new',
    component: page(() => import('./pages/rule-editor/RuleEditorPage.js'), 'RuleEditorPage'),
    requires: 'POST /v1/rulesets',
  },
  {
    path: '/rules/:id',
    component: page(() => import('./pages/ruleset/RulesetPage.js'), 'RulesetPage'),
    requires: 'GET /v1/rulesets/{id}',
  },
  {
    path: '/retrohunts',
    component: page(() => import('./pages/retrohunts/RetrohuntsPage.js'), 'RetrohuntsPage'),
    requires: 'GET /v1/retrohunts',
    nav: 'Retrohunts',
  },
  {
    path: '/retrohunts/:id',
    component: page(() => import('./pages/retrohunt/RetrohuntPage.js'), 'RetrohuntPage'),
    requires: 'GET /v1/retrohunts/{id}',
  },
  {
    path: '/admin',
    component: page(() => import('./pages/admin/AdminPage.js'), 'AdminPage'),
    requires: 'GET /v1/agents',
    nav: 'Admin',
  },
];

/** The pages a set of permissions opens. */
export const pagesFor = (may: (route: string) => boolean): PageDef[] => PAGES.filter((p) => may(p.requires));
