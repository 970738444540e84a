-- Idempotency keys of uploads (issue 3, agent protocol): a multipart upload retried after its answer was lost
-- recorded a second submission. The client's `Idempotency-Key` is written here with the submission it produced,
-- in the same statement; the primary key (per submitter) makes a concurrent retry fail and replay instead. Rows go
-- with their submission (cascade: consent purge, retention) and are expired by the retention sweep.
CREATE TABLE "idempotency_keys" (
	"submitter" text NOT NULL,
	"key" text NOT NULL,
	"submission_id" uuid NOT NULL,
	"request_sha256" char(64) NOT NULL,
	"duplicate" boolean NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY("submitter","key")
);
--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_submission_id_submissions_id_fk" FOREIGN KEY ("submission_id") REFERENCES "public"."submissions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "idempotency_keys_submission_idx" ON "idempotency_keys" USING btree ("submission_id");--> statement-breakpoint
CREATE INDEX "idempotency_keys_created_idx" ON "idempotency_keys" USING btree ("created_at");
