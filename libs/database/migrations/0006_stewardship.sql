CREATE TABLE "object_tombstones" (
	"object_key" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stats_daily" (
	"day" date NOT NULL,
	"dimension" text NOT NULL,
	"value" text NOT NULL,
	"submissions" integer NOT NULL,
	"agents" integer NOT NULL,
	CONSTRAINT "stats_daily_pkey" PRIMARY KEY("day","dimension","value")
);
--> statement-breakpoint
CREATE TABLE "stats_days" (
	"day" date PRIMARY KEY NOT NULL,
	"rolled_at" timestamp with time zone DEFAULT now() NOT NULL,
	"final" boolean DEFAULT false NOT NULL,
	"k" integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX "submissions_received_idx" ON "submissions" USING btree ("received_at");