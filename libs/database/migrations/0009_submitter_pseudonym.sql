DROP INDEX "submissions_submitted_by_idx";--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "pseudonym" text;--> statement-breakpoint
ALTER TABLE "submissions" ADD COLUMN "submitter" text;--> statement-breakpoint
ALTER TABLE "submissions" ADD COLUMN "country" char(2);--> statement-breakpoint
ALTER TABLE "submissions" ADD COLUMN "product_version" text;--> statement-breakpoint
CREATE INDEX "submissions_submitter_idx" ON "submissions" USING btree ("submitter","received_at");--> statement-breakpoint
ALTER TABLE "agents" ADD CONSTRAINT "agents_pseudonym_key" UNIQUE("pseudonym");--> statement-breakpoint
-- Sightings keep the agent's country and product as they were when it sent them (the roll-ups and the
-- sightings list read them here instead of joining through the agent's key).
UPDATE "submissions" s SET "country" = a."country", "product_version" = a."product_name" || ' ' || a."product_version"
FROM "api_tokens" t JOIN "agents" a ON a."id" = t."agent_id"
WHERE t."id" = s."submitted_by";
