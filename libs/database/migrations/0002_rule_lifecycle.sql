CREATE TABLE "ruleset_rules" (
	"ruleset_id" uuid NOT NULL,
	"rule" text NOT NULL,
	"state" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_by" uuid
);
--> statement-breakpoint
ALTER TABLE "matches" ADD COLUMN "noisy" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "rulesets" ADD COLUMN "activated_by" uuid;--> statement-breakpoint
ALTER TABLE "rulesets" ADD COLUMN "diagnostics" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "rulesets" ADD COLUMN "quarantined" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "ruleset_rules" ADD CONSTRAINT "ruleset_rules_ruleset_id_rulesets_id_fk" FOREIGN KEY ("ruleset_id") REFERENCES "public"."rulesets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "ruleset_rules_ruleset_rule_key" ON "ruleset_rules" USING btree ("ruleset_id","rule");