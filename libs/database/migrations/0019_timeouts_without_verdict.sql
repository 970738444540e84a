-- A scan that timed out was recorded as `clean`: libyara reports no rule at all when a scan times out, so
-- that verdict said nothing, yet lookups served it to agents. Timed-out scans have no verdict from now on
-- (ScanProcessor); those recorded before lose theirs, and so do the samples whose latest scan they are.
UPDATE "scans" SET "verdict" = NULL WHERE "status" = 'timeout' AND "verdict" IS NOT NULL;--> statement-breakpoint
UPDATE "samples" SET "verdict" = NULL WHERE "scan_status" = 'timeout' AND "verdict" IS NOT NULL;
