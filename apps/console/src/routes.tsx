import type { ComponentType } from 'react';
import { AdminPage } from './pages/admin/AdminPage.js';
import { DashboardPage } from './pages/dashboard/DashboardPage.js';
import { RetrohuntPage } from './pages/retrohunt/RetrohuntPage.js';
import { RetrohuntsPage } from './pages/retrohunts/RetrohuntsPage.js';
import { RuleEditorPage } from './pages/rule-editor/RuleEditorPage.js';
import { RulesPage } from './pages/rules/RulesPage.js';
import { RulesetPage } from './pages/ruleset/RulesetPage.js';
import { SampleDetailPage } from './pages/sample-detail/SampleDetailPage.js';
import { SamplesPage } from './pages/samples/SamplesPage.js';

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
  { path: '/dashboard', component: DashboardPage, requires: 'GET /v1/stats/overview', nav: 'Dashboard' },
  { path: '/samples', component: SamplesPage, requires: 'GET /v1/samples', nav: 'Samples' },
  { path: '/samples/:sha256', component: SampleDetailPage, requires: 'GET /v1/samples/{sha256}' },
  { path: '/rules', component: RulesPage, requires: 'GET /v1/rulesets', nav: 'Rules' },
  { path: '/rules/new', component: RuleEditorPage, requires: 'POST /v1/rulesets' },
  { path: '/rules/:id', component: RulesetPage, requires: 'GET /v1/rulesets/{id}' },
  { path: '/retrohunts', component: RetrohuntsPage, requires: 'GET /v1/retrohunts', nav: 'Retrohunts' },
  { path: '/retrohunts/:id', component: RetrohuntPage, requires: 'GET /v1/retrohunts/{id}' },
  { path: '/admin', component: AdminPage, requires: 'GET /v1/agents', nav: 'Admin' },
];

/** The pages a set of permissions opens. */
export const pagesFor = (may: (route: string) => boolean): PageDef[] => PAGES.filter((p) => may(p.requires));
