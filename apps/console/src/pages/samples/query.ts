import {
  FILE_TYPES,
  type FileType,
  type SampleKind,
  type SampleSort,
  type SortOrder,
  type Verdict,
} from '#contracts';

/**
 * The samples search as the URL keeps it (so a search can be bookmarked, shared and reloaded): every
 * filter of `GET /v1/samples`, dates as UTC days, plus sort, order and the page cursor.
 */
export interface SampleFilters {
  hash: string;
  kind: SampleKind | '';
  verdict: Verdict | '';
  rule: string;
  tag: string;
  fileType: FileType | '';
  /** ISO 3166-1 alpha-2: sighted at least once by an agent of that country. */
  country: string;
  sizeMin: string;
  sizeMax: string;
  firstSeenFrom: string;
  firstSeenTo: string;
  lastSeenFrom: string;
  lastSeenTo: string;
  sort: SampleSort;
  order: SortOrder;
  cursor: string;
}

export const EMPTY_FILTERS: SampleFilters = {
  hash: '',
  kind: '',
  verdict: '',
  rule: '',
  tag: '',
  fileType: '',
  country: '',
  sizeMin: '',
  sizeMax: '',
  firstSeenFrom: '',
  firstSeenTo: '',
  lastSeenFrom: '',
  lastSeenTo: '',
  sort: 'firstSeen',
  order: 'desc',
  cursor: '',
};

const KINDS = new Set(['file', 'file-fragment', 'memory-region', 'boot-record']);
const VERDICT_SET = new Set(['clean', 'suspicious', 'malicious']);
const SORTS = new Set(['firstSeen', 'lastSeen', 'size']);
const FILE_TYPE_SET = new Set<string>(FILE_TYPES);

export function filtersFromParams(params: URLSearchParams): SampleFilters {
  const get = (k: string) => params.get(k) ?? '';
  const kind = get('kind');
  const verdict = get('verdict');
  const sort = get('sort');
  return {
    hash: get('hash'),
    kind: KINDS.has(kind) ? (kind as SampleKind) : '',
    verdict: VERDICT_SET.has(verdict) ? (verdict as Verdict) : '',
    rule: get('rule'),
    tag: get('tag'),
    fileType: FILE_TYPE_SET.has(get('fileType')) ? (get('fileType') as FileType) : '',
    country: get('country'),
    sizeMin: get('sizeMin'),
    sizeMax: get('sizeMax'),
    firstSeenFrom: get('firstSeenFrom'),
    firstSeenTo: get('firstSeenTo'),
    lastSeenFrom: get('lastSeenFrom'),
    lastSeenTo: get('lastSeenTo'),
    sort: SORTS.has(sort) ? (sort as SampleSort) : 'firstSeen',
    order: get('order') === 'asc' ? 'asc' : 'desc',
    cursor: get('cursor'),
  };
}

/** The URL's query: only what differs from the defaults, so a plain search has a plain URL. */
export function filtersToParams(filters: SampleFilters): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of Object.keys(EMPTY_FILTERS) as (keyof SampleFilters)[]) {
    const value = filters[key].trim();
    if (value !== EMPTY_FILTERS[key]) params.set(key, value);
  }
  return params;
}

/** A day (`2026-01-31`) as the first or the last instant of that UTC day. */
const dayStart = (day: string) => (day === '' ? undefined : `${day}T00:00:00.000Z`);
const dayEnd = (day: string) => (day === '' ? undefined : `${day}T23:59:59.999Z`);

/** The API query for the filters. */
export function apiQuery(filters: SampleFilters, limit = 50): Record<string, string | number | undefined> {
  const text = (v: string) => (v.trim() === '' ? undefined : v.trim());
  return {
    hash: text(filters.hash),
    kind: text(filters.kind),
    verdict: text(filters.verdict),
    rule: text(filters.rule),
    tag: text(filters.tag),
    fileType: text(filters.fileType),
    country: text(filters.country),
    sizeMin: text(filters.sizeMin),
    sizeMax: text(filters.sizeMax),
    firstSeenFrom: dayStart(filters.firstSeenFrom),
    firstSeenTo: dayEnd(filters.firstSeenTo),
    lastSeenFrom: dayStart(filters.lastSeenFrom),
    lastSeenTo: dayEnd(filters.lastSeenTo),
    sort: filters.sort,
    order: filters.order,
    cursor: text(filters.cursor),
    limit,
  };
}

/** Clicking a column header: that column descending first, the same column again flips the order. */
export function toggleSort(filters: SampleFilters, column: SampleSort): SampleFilters {
  const order: SortOrder = filters.sort === column && filters.order === 'desc' ? 'asc' : 'desc';
  return { ...filters, sort: column, order, cursor: '' };
}

/** How many filters (not sort or page) are set: shown on the form's toggle. */
export const activeFilterCount = (filters: SampleFilters): number =>
  (
    [
      'hash',
      'kind',
      'verdict',
      'rule',
      'tag',
      'fileType',
      'country',
      'sizeMin',
      'sizeMax',
      'firstSeenFrom',
      'firstSeenTo',
      'lastSeenFrom',
      'lastSeenTo',
    ] as const
  ).filter((k) => filters[k] !== '').length;
