DROP INDEX "matches_rule_scan_idx";--> statement-breakpoint
DROP INDEX "matches_tags_idx";--> statement-breakpoint
DROP INDEX "samples_latest_scan_idx";--> statement-breakpoint
ALTER TABLE "samples" ADD COLUMN "match_rules" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "samples" ADD COLUMN "match_tags" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "samples" ADD COLUMN "countries" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
-- One pass over the table for all three copies (each updated row is a new tuple in every index).
WITH "rules" AS (
  SELECT scan_id, array_agg(DISTINCT rule ORDER BY rule) AS rules FROM "matches" GROUP BY scan_id
), "tags" AS (
  SELECT m.scan_id, array_agg(DISTINCT t.tag ORDER BY t.tag) AS tags
  FROM "matches" m CROSS JOIN LATERAL unnest(m.tags) AS t(tag) GROUP BY m.scan_id
), "countries" AS (
  SELECT sub.sample_sha256, array_agg(DISTINCT sub.country::text ORDER BY sub.country::text) AS countries
  FROM "submissions" sub
  WHERE sub.country IS NOT NULL
  GROUP BY sub.sample_sha256
), "copies" AS (
  SELECT s.sha256, coalesce(r.rules, '{}') AS rules, coalesce(g.tags, '{}') AS tags,
    coalesce(c.countries, '{}') AS countries
  FROM "samples" s
    LEFT JOIN "rules" r ON r.scan_id = s.latest_scan_id
    LEFT JOIN "tags" g ON g.scan_id = s.latest_scan_id
    LEFT JOIN "countries" c ON c.sample_sha256 = s.sha256
  WHERE r.scan_id IS NOT NULL OR c.sample_sha256 IS NOT NULL
)
UPDATE "samples" s SET "match_rules" = x.rules, "match_tags" = x.tags, "countries" = x.countries
FROM "copies" x
WHERE x.sha256 = s.sha256;--> statement-breakpoint
CREATE INDEX "samples_match_rules_idx" ON "samples" USING gin ("match_rules");--> statement-breakpoint
CREATE INDEX "samples_match_tags_idx" ON "samples" USING gin ("match_tags");--> statement-breakpoint
CREATE INDEX "samples_countries_idx" ON "samples" USING gin ("countries");--> statement-breakpoint
CREATE FUNCTION "samples_latest_matches"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.latest_scan_id IS NULL THEN
    NEW.match_rules := '{}';
    NEW.match_tags := '{}';
    RETURN NEW;
  END IF;
  -- The scan's matches are inserted before the sample points at it (ScansRepository.record, one transaction).
  NEW.match_rules := coalesce(
    (SELECT array_agg(DISTINCT m.rule ORDER BY m.rule) FROM matches m WHERE m.scan_id = NEW.latest_scan_id),
    '{}');
  NEW.match_tags := coalesce(
    (SELECT array_agg(DISTINCT t.tag ORDER BY t.tag)
     FROM matches m CROSS JOIN LATERAL unnest(m.tags) AS t(tag)
     WHERE m.scan_id = NEW.latest_scan_id),
    '{}');
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "samples_latest_matches" BEFORE INSERT OR UPDATE OF "latest_scan_id" ON "samples"
  FOR EACH ROW EXECUTE FUNCTION "samples_latest_matches"();--> statement-breakpoint
CREATE FUNCTION "sample_countries"(sha256 char(64)) RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(DISTINCT sub.country::text ORDER BY sub.country::text), '{}')
  FROM submissions sub
  WHERE sub.sample_sha256 = sha256 AND sub.country IS NOT NULL;
$$;
--> statement-breakpoint
CREATE FUNCTION "submissions_sample_countries"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- The common case: a sighting adds its country when the sample lacks it (no update otherwise).
    UPDATE samples s SET countries = (SELECT array_agg(DISTINCT c ORDER BY c) FROM unnest(s.countries || NEW.country::text) c)
    WHERE NEW.country IS NOT NULL
      AND s.sha256 = NEW.sample_sha256 AND NOT s.countries @> ARRAY[NEW.country::text];
    RETURN NULL;
  END IF;
  -- A sighting removed (consent purge, retention) or its country changed: recount.
  UPDATE samples SET countries = sample_countries(OLD.sample_sha256) WHERE sha256 = OLD.sample_sha256;
  IF TG_OP = 'UPDATE' AND NEW.sample_sha256 IS DISTINCT FROM OLD.sample_sha256 THEN
    UPDATE samples SET countries = sample_countries(NEW.sample_sha256) WHERE sha256 = NEW.sample_sha256;
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "submissions_sample_countries" AFTER INSERT OR DELETE OR UPDATE OF "country", "sample_sha256"
  ON "submissions" FOR EACH ROW EXECUTE FUNCTION "submissions_sample_countries"();
