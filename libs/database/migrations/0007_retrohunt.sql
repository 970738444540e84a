CREATE TABLE "retrohunt_matches" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"retrohunt_id" uuid NOT NULL,
	"sample_sha256" char(64) NOT NULL,
	"rule" text NOT NULL,
	"namespace" text NOT NULL,
	"tags" text[] NOT NULL,
	"meta" jsonb NOT NULL,
	"strings" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "retrohunts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"source" text NOT NULL,
	"source_sha256" char(64) NOT NULL,
	"rule_count" integer NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"total" integer NOT NULL,
	"scanned" integer DEFAULT 0 NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"match_count" integer DEFAULT 0 NOT NULL,
	"cursor" char(64),
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" uuid,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "retrohunt_matches" ADD CONSTRAINT "retrohunt_matches_retrohunt_id_retrohunts_id_fk" FOREIGN KEY ("retrohunt_id") REFERENCES "public"."retrohunts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "retrohunt_matches" ADD CONSTRAINT "retrohunt_matches_sample_sha256_samples_sha256_fk" FOREIGN KEY ("sample_sha256") REFERENCES "public"."samples"("sha256") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "retrohunt_matches_hunt_sample_rule_key" ON "retrohunt_matches" USING btree ("retrohunt_id","sample_sha256","namespace","rule");--> statement-breakpoint
CREATE INDEX "retrohunt_matches_hunt_id_idx" ON "retrohunt_matches" USING btree ("retrohunt_id","id");--> statement-breakpoint
CREATE INDEX "retrohunt_matches_sample_idx" ON "retrohunt_matches" USING btree ("sample_sha256");--> statement-breakpoint
CREATE INDEX "retrohunts_created_idx" ON "retrohunts" USING btree ("created_at");