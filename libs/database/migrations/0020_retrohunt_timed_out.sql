-- Samples a retrohunt's rules did not finish scanning within SCAN_TIMEOUT_MS: libyara reports no rule on a
-- timeout, so they count as scanned with no match, and the hunt said nothing of them.
ALTER TABLE "retrohunts" ADD COLUMN "timed_out" integer DEFAULT 0 NOT NULL;
