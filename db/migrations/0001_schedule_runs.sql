CREATE TABLE "schedule_runs" (
	"function" text NOT NULL,
	"scheduled_at" timestamp (3) with time zone NOT NULL,
	"kind" text NOT NULL,
	"cron" text,
	"node" text NOT NULL,
	"invocation_id" text,
	"state" text NOT NULL,
	"outcome" text,
	"exit_code" integer,
	"error" text,
	"claimed_at" timestamp (3) with time zone NOT NULL,
	"finished_at" timestamp (3) with time zone,
	CONSTRAINT "schedule_runs_pk" PRIMARY KEY("function","scheduled_at"),
	CONSTRAINT "schedule_runs_kind_ck" CHECK (kind in ('scheduled', 'catch_up', 'manual')),
	CONSTRAINT "schedule_runs_state_ck" CHECK (state in ('running', 'succeeded', 'failed', 'cancelled', 'skipped', 'lost'))
);
--> statement-breakpoint
CREATE INDEX "schedule_runs_function_state_idx" ON "schedule_runs" USING btree ("function","state");