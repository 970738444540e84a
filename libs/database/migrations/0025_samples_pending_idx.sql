-- The outbox re-drive looks for samples still unscanned a while after they arrived, whose scan job Redis may
-- have lost (SubmissionsRepository.strandedScans): by this index of the pending ones only, not every sample.
CREATE INDEX "samples_pending_idx" ON "samples" USING btree ("first_seen") WHERE "samples"."scan_status" = 'pending';
