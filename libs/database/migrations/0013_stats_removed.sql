CREATE TABLE "stats_removed" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"day" date NOT NULL,
	"kind" text NOT NULL,
	"verdict" text NOT NULL,
	"country" text NOT NULL,
	"product_version" text NOT NULL,
	"agent" text NOT NULL,
	"rules" text[] NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stats_salts" (
	"day" date PRIMARY KEY NOT NULL,
	"salt" uuid DEFAULT gen_random_uuid() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "stats_removed_day_idx" ON "stats_removed" USING btree ("day");