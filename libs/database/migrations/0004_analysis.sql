ALTER TABLE "samples" ADD COLUMN "file_type" text;--> statement-breakpoint
ALTER TABLE "scans" ADD COLUMN "analysis" jsonb;