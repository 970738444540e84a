-- A sample's countries kept up to date once per DELETE statement, from its transition table, instead of by
-- a recount per deleted row: the retention sweep deletes every sighting of a sample in one statement, and
-- the per-row trigger recounted the sample (reading its index entries, deleted ones included) and rewrote
-- its row once per sighting, quadratic in a widely sighted sample's sightings. Updates of the country or
-- the sample keep the per-row recount (a trigger with a column list can have no transition table).
DROP TRIGGER "submissions_sample_countries" ON "submissions";--> statement-breakpoint
CREATE TRIGGER "submissions_sample_countries" AFTER UPDATE OF "country", "sample_sha256"
  ON "submissions" FOR EACH ROW EXECUTE FUNCTION "submissions_sample_countries"();--> statement-breakpoint
CREATE FUNCTION "submissions_deleted_countries"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Each sample the statement removed sightings of, recounted once (a sample deleted since is no row).
  UPDATE samples s SET countries = sample_countries(s.sha256)
  FROM (SELECT DISTINCT sample_sha256 FROM deleted) d
  WHERE s.sha256 = d.sample_sha256;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "submissions_deleted_countries" AFTER DELETE ON "submissions"
  REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION "submissions_deleted_countries"();
