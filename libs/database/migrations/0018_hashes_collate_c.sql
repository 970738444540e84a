-- Hashes and token hashes compare byte by byte. Under the database's collation every comparison of a
-- char(n) hash went through the locale's strcoll on NUL-terminated copies, and a b-tree descent compares
-- dozens of keys per probe. The primary-key probes of a 1,000-hash lookup (200,000 samples, backend CPU,
-- alternated in one run): 3.0–3.7 ms under en-US (ICU; the official postgres image's default is en_US.utf8)
-- against 1.7–2.2 ms with "C"; under C.UTF-8, this machine's default, 2.0–2.4 against 1.7–2.5 (glibc's
-- C.UTF-8 strcoll is a plain comparison). Lower-case hex sorts the same in every collation, so keyset
-- cursors and index order do not change. Same type, other collation: PostgreSQL rebuilds the indexes (and
-- checks the foreign keys) but does not rewrite the tables. A trigger whose column list names a column
-- blocks its type change: dropped and created again as migration 0014 left it.
ALTER TABLE "samples"
  ALTER COLUMN "sha256" TYPE char(64) COLLATE "C",
  ALTER COLUMN "sha1" TYPE char(40) COLLATE "C",
  ALTER COLUMN "md5" TYPE char(32) COLLATE "C";--> statement-breakpoint
DROP TRIGGER "submissions_sample_countries" ON "submissions";--> statement-breakpoint
ALTER TABLE "submissions" ALTER COLUMN "sample_sha256" TYPE char(64) COLLATE "C";--> statement-breakpoint
CREATE TRIGGER "submissions_sample_countries" AFTER UPDATE OF "country", "sample_sha256"
  ON "submissions" FOR EACH ROW EXECUTE FUNCTION "submissions_sample_countries"();--> statement-breakpoint
ALTER TABLE "scans" ALTER COLUMN "sample_sha256" TYPE char(64) COLLATE "C";--> statement-breakpoint
ALTER TABLE "retrohunt_matches" ALTER COLUMN "sample_sha256" TYPE char(64) COLLATE "C";--> statement-breakpoint
ALTER TABLE "retrohunts" ALTER COLUMN "cursor" TYPE char(64) COLLATE "C";--> statement-breakpoint
ALTER TABLE "api_tokens" ALTER COLUMN "token_hash" TYPE char(64) COLLATE "C";--> statement-breakpoint
ALTER TABLE "enrollment_tokens" ALTER COLUMN "token_hash" TYPE char(64) COLLATE "C";
