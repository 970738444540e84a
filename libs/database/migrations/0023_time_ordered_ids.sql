-- Version 7 UUIDs (RFC 9562: Unix milliseconds, then random bits) for the high-volume rows, so their
-- primary keys grow at the right edge instead of writing a random leaf page per insert (after a
-- checkpoint, a full-page image in the WAL each). The API and scanner make the same layout in
-- libs/database/src/uuid7.ts; this default covers the rows the database numbers itself (lookup
-- sightings, failed scans). Existing ids stay as they are.
CREATE OR REPLACE FUNCTION uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;
--> statement-breakpoint
ALTER TABLE "submissions" ALTER COLUMN "id" SET DEFAULT uuid_v7();
--> statement-breakpoint
ALTER TABLE "scans" ALTER COLUMN "id" SET DEFAULT uuid_v7();
