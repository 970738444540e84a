DROP INDEX "matches_rule_idx";--> statement-breakpoint
DROP INDEX "samples_last_seen_idx";--> statement-breakpoint
CREATE INDEX "matches_rule_scan_idx" ON "matches" USING btree ("rule","scan_id");--> statement-breakpoint
CREATE INDEX "matches_tags_idx" ON "matches" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "samples_first_seen_key_idx" ON "samples" USING btree ("first_seen","sha256");--> statement-breakpoint
CREATE INDEX "samples_last_seen_key_idx" ON "samples" USING btree ("last_seen","sha256");--> statement-breakpoint
CREATE INDEX "samples_size_key_idx" ON "samples" USING btree ("size","sha256");--> statement-breakpoint
CREATE INDEX "samples_verdict_first_seen_idx" ON "samples" USING btree ("verdict","first_seen","sha256");--> statement-breakpoint
CREATE INDEX "samples_kind_first_seen_idx" ON "samples" USING btree ("kind","first_seen","sha256");--> statement-breakpoint
CREATE INDEX "samples_latest_scan_idx" ON "samples" USING btree ("latest_scan_id");