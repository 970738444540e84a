import { type ComponentType, type ReactNode, lazy } from 'react';
import { matchPath } from 'react-router';

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
  /** The tab's title (before " — Specimen"), from the path's parameters. */
  title: (params: Readonly<Record<string, string | undefined>>) => string;
}

/** The start of an id or hash, enough to tell tabs apart. */
const short = (id: string | undefined): string => `${(id ?? '').slice(0, 12)}…`;

export const PAGES: PageDef[] = [
  {
    path: '/dashboard',
    component: page(() => import('./pages/dashboard/DashboardPage.js'), 'DashboardPage'),
    requires: 'GET /v1/stats/overview',
    nav: 'Dashboard',
    title: () => 'Dashboard',
  },
  {
    path: '/samples',
    component: page(() => import('./pages/samples/SamplesPage.js'), 'SamplesPage'),
    requires: 'GET /v1/samples',
    nav: 'Samples',
    title: () => 'Samples',
  },
  {
    path: '/samples/:sha256',
    component: page(() => import('./pages/sample-detail/SampleDetailPage.js'), 'SampleDetailPage'),
    requires: 'GET /v1/samples/{sha256}',
    title: (p) => `Sample ${short(p.sha256)}`,
  },
  {
    path: '/rules',
    component: page(() => import('./pages/rules/RulesPage.js'), 'RulesPage'),
    requires: 'GET /v1/rulesets',
    nav: 'Rules',
    title: () => 'Rules',
  },
  {
    path: '/rules/new',
    component: page(() => import('./pages/rule-editor/RuleEditorPage.js'), 'RuleEditorPage'),
    requires: 'POST /v1/rulesets',
    title: () => 'New ruleset',
  },
  {
    path: '/rules/:id',
    component: page(() => import('./pages/ruleset/RulesetPage.js'), 'RulesetPage'),
    requires: 'GET /v1/rulesets/{id}',
    title: (p) => `Ruleset ${short(p.id)}`,
  },
  {
    path: '/retrohunts',
    component: page(() => import('./pages/retrohunts/RetrohuntsPage.js'), 'RetrohuntsPage'),
    requires: 'GET /v1/retrohunts',
    nav: 'Retrohunts',
    title: () => 'Retrohunts',
  },
  {
    path: '/retrohunts/:id',
    component: page(() => import('./pages/retrohunt/RetrohuntPage.js'), 'RetrohuntPage'),
    requires: 'GET /v1/retrohunts/{id}',
    title: (p) => `Retrohunt ${short(p.id)}`,
  },
  {
    path: '/admin',
    component: page(() => import('./pages/admin/AdminPage.js'), 'AdminPage'),
    requires: 'GET /v1/agents',
    nav: 'Admin',
    title: () => 'Admin',
  },
];

/** The tab's title for a path among `pages` (a path no page has: "Not found"). */
export function titleOf(pages: PageDef[], pathname: string): string {
  for (const p of pages) {
    const match = matchPath(p.path, pathname);
    if (match !== null) return `${p.title(match.params)} — Specimen`;
  }
  return 'Not found — Specimen';
}

/** The pages a set of permissions opens. */
export const pagesFor = (may: (route: string) => boolean): PageDef[] => PAGES.filter((p) => may(p.requires));
