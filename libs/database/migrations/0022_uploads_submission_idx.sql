-- The retention sweep deletes the finished resumable uploads of the samples it destroys, by submission.
CREATE INDEX "uploads_submission_idx" ON "uploads" USING btree ("submission_id") WHERE "submission_id" IS NOT NULL;
