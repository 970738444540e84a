-- The samples_latest_matches trigger ran two queries on matches for every sample row a scan batch updated
-- (about a tenth of the database's CPU per recorded scan, most samples having no match at all). The scan
-- recorder (ScansRepository.recordMany) now computes the same copies with the same aggregates in its UPDATE,
-- only for scans that have matches, and says so for its transaction with `specimen.sample_copies = 'given'`;
-- the trigger still keeps the copies for every other writer of latest_scan_id.
DROP TRIGGER "samples_latest_matches" ON "samples";--> statement-breakpoint
CREATE TRIGGER "samples_latest_matches" BEFORE INSERT OR UPDATE OF "latest_scan_id" ON "samples"
  FOR EACH ROW WHEN (current_setting('specimen.sample_copies', true) IS DISTINCT FROM 'given')
  EXECUTE FUNCTION "samples_latest_matches"();
