-- Retrohunts and retro-scans run as chains of batch jobs, each queueing the next: a Redis restarted without
-- its data (no persistence, a failover to an empty replica) took the next job with it, and the retrohunt stayed
-- running for ever, the retro-scan stopped half way. The outbox re-drive puts such a job back from here: a
-- retrohunt's cursor and when it last moved, and a retro-scan's row (its jobs carried all it was before).
ALTER TABLE "retrohunts" ADD COLUMN "progressed_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
CREATE INDEX "retrohunts_unfinished_idx" ON "retrohunts" USING btree ("progressed_at") WHERE "retrohunts"."status" in ('queued', 'running');--> statement-breakpoint
CREATE TABLE "retroscans" (
	"key" text PRIMARY KEY NOT NULL,
	"ruleset_id" uuid NOT NULL,
	"until" timestamp with time zone NOT NULL,
	"rule" text,
	"rules_as_of" timestamp with time zone,
	"cursor" text,
	"status" text DEFAULT 'running' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"progressed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);--> statement-breakpoint
ALTER TABLE "retroscans" ADD CONSTRAINT "retroscans_ruleset_id_rulesets_id_fk" FOREIGN KEY ("ruleset_id") REFERENCES "public"."rulesets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "retroscans_running_idx" ON "retroscans" USING btree ("progressed_at") WHERE "retroscans"."status" = 'running';
