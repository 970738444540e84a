-- Whether a finished upload was a duplicate, so that a retried last PATCH or a HEAD answers Specimen-Duplicate
-- as the finish did (they said false whatever the finish had said).
ALTER TABLE "uploads" ADD COLUMN "duplicate" boolean;
