-- A sample's countries (migration 0010) kept up to date once per INSERT statement, from its transition
-- table, instead of by a PL/pgSQL call per inserted row: a lookup's sightings are inserted hundreds at a
-- time, and the per-row call (an UPDATE planned and run for every row, even one without a country) was a
-- quarter of the statement's time. Deletions and updates keep the per-row recount (PostgreSQL allows no
-- transition table on a trigger with a column list).
CREATE OR REPLACE FUNCTION "submissions_sample_countries"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A sighting removed (consent purge, retention) or its country changed: recount.
  UPDATE samples SET countries = sample_countries(OLD.sample_sha256) WHERE sha256 = OLD.sample_sha256;
  IF TG_OP = 'UPDATE' AND NEW.sample_sha256 IS DISTINCT FROM OLD.sample_sha256 THEN
    UPDATE samples SET countries = sample_countries(NEW.sample_sha256) WHERE sha256 = NEW.sample_sha256;
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
DROP TRIGGER "submissions_sample_countries" ON "submissions";--> statement-breakpoint
CREATE TRIGGER "submissions_sample_countries" AFTER DELETE OR UPDATE OF "country", "sample_sha256"
  ON "submissions" FOR EACH ROW EXECUTE FUNCTION "submissions_sample_countries"();--> statement-breakpoint
CREATE FUNCTION "submissions_inserted_countries"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The statement's new countries per sample, added where the sample lacks one (no update otherwise).
  UPDATE samples s
  SET countries = (SELECT array_agg(DISTINCT c ORDER BY c) FROM unnest(s.countries || n.added) c)
  FROM (SELECT sample_sha256, array_agg(DISTINCT country::text) AS added
        FROM inserted WHERE country IS NOT NULL GROUP BY sample_sha256) n
  WHERE s.sha256 = n.sample_sha256 AND NOT s.countries @> n.added;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "submissions_inserted_countries" AFTER INSERT ON "submissions"
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION "submissions_inserted_countries"();
