import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/*
 * drizzle-orm is loaded through its CommonJS build. Measured on Node 24: importing its ESM build costs
 * ~830 ms and ~250 MB of RSS (Node re-reads its 180 KB package.json exports map for each of its ~450
 * modules), against ~160 ms and ~25 MB with require(). That alone put an idle API above 290 MB.
 * Every runtime value from drizzle goes through this file (lint enforces it); types are imported directly.
 * drizzle-kit loads schema.ts as CommonJS, where import.meta.url is undefined: it runs from the repo root.
 */
const require = createRequire(
  typeof import.meta.url === 'string' ? import.meta.url : pathToFileURL(`${process.cwd()}/`).href,
);

export const { and, asc, desc, eq, gt, gte, inArray, isNull, lt, lte, or, sql } =
  require('drizzle-orm') as typeof import('drizzle-orm');
export const {
  bigint,
  bigserial,
  boolean,
  char,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} = require('drizzle-orm/pg-core') as typeof import('drizzle-orm/pg-core');
export const { drizzle } = require('drizzle-orm/node-postgres') as typeof import('drizzle-orm/node-postgres');
export const { migrate } =
  require('drizzle-orm/node-postgres/migrator') as typeof import('drizzle-orm/node-postgres/migrator');
