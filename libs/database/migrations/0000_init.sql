CREATE TABLE "api_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"token_hash" char(64) NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" uuid,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "matches" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"scan_id" uuid NOT NULL,
	"rule" text NOT NULL,
	"namespace" text NOT NULL,
	"tags" text[] NOT NULL,
	"meta" jsonb NOT NULL,
	"strings" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"queue" text NOT NULL,
	"name" text NOT NULL,
	"job_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text
);
--> statement-breakpoint
CREATE TABLE "rulesets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"source" text NOT NULL,
	"source_sha256" char(64) NOT NULL,
	"status" text DEFAULT 'staging' NOT NULL,
	"rule_count" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" uuid,
	"activated_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "samples" (
	"sha256" char(64) PRIMARY KEY NOT NULL,
	"sha1" char(40) NOT NULL,
	"md5" char(32) NOT NULL,
	"size" bigint NOT NULL,
	"kind" text NOT NULL,
	"object_key" text NOT NULL,
	"first_seen" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen" timestamp with time zone DEFAULT now() NOT NULL,
	"sightings" integer DEFAULT 1 NOT NULL,
	"scan_status" text DEFAULT 'pending' NOT NULL,
	"verdict" text,
	"latest_scan_id" uuid
);
--> statement-breakpoint
CREATE TABLE "scans" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"sample_sha256" char(64) NOT NULL,
	"ruleset_id" uuid NOT NULL,
	"status" text NOT NULL,
	"verdict" text,
	"error" text,
	"duration_ms" integer NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "submissions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"sample_sha256" char(64) NOT NULL,
	"kind" text NOT NULL,
	"metadata" jsonb NOT NULL,
	"filename" text,
	"submitted_by" uuid,
	"status" text DEFAULT 'received' NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "matches" ADD CONSTRAINT "matches_scan_id_scans_id_fk" FOREIGN KEY ("scan_id") REFERENCES "public"."scans"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "scans" ADD CONSTRAINT "scans_sample_sha256_samples_sha256_fk" FOREIGN KEY ("sample_sha256") REFERENCES "public"."samples"("sha256") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "scans" ADD CONSTRAINT "scans_ruleset_id_rulesets_id_fk" FOREIGN KEY ("ruleset_id") REFERENCES "public"."rulesets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "submissions" ADD CONSTRAINT "submissions_sample_sha256_samples_sha256_fk" FOREIGN KEY ("sample_sha256") REFERENCES "public"."samples"("sha256") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "submissions" ADD CONSTRAINT "submissions_submitted_by_api_tokens_id_fk" FOREIGN KEY ("submitted_by") REFERENCES "public"."api_tokens"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_tokens_token_hash_key" ON "api_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "matches_scan_idx" ON "matches" USING btree ("scan_id");--> statement-breakpoint
CREATE INDEX "matches_rule_idx" ON "matches" USING btree ("rule");--> statement-breakpoint
CREATE INDEX "outbox_created_idx" ON "outbox" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "rulesets_name_version_key" ON "rulesets" USING btree ("name","version");--> statement-breakpoint
CREATE UNIQUE INDEX "rulesets_one_active_key" ON "rulesets" USING btree ("status") WHERE "rulesets"."status" = 'active';--> statement-breakpoint
CREATE INDEX "samples_sha1_idx" ON "samples" USING btree ("sha1");--> statement-breakpoint
CREATE INDEX "samples_md5_idx" ON "samples" USING btree ("md5");--> statement-breakpoint
CREATE INDEX "samples_last_seen_idx" ON "samples" USING btree ("last_seen");--> statement-breakpoint
CREATE INDEX "scans_sample_idx" ON "scans" USING btree ("sample_sha256","finished_at");--> statement-breakpoint
CREATE INDEX "submissions_sample_idx" ON "submissions" USING btree ("sample_sha256","received_at");--> statement-breakpoint
CREATE INDEX "submissions_submitted_by_idx" ON "submissions" USING btree ("submitted_by","received_at");