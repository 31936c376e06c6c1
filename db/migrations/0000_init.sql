CREATE TABLE "functions" (
	"name" text PRIMARY KEY NOT NULL,
	"definition" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "invocations" (
	"id" text PRIMARY KEY NOT NULL,
	"function" text NOT NULL,
	"trigger" text NOT NULL,
	"state" text NOT NULL,
	"node" text,
	"queued_at" timestamp (3) with time zone NOT NULL,
	"started_at" timestamp (3) with time zone,
	"finished_at" timestamp (3) with time zone,
	"exit_code" integer,
	"signal" integer,
	"reason" text,
	"warm" boolean,
	"trace_id" text,
	"stdout_bytes" bigint,
	"stderr_bytes" bigint,
	"stdout_tail" text,
	"stderr_tail" text,
	"idempotency_key" text,
	"attempt" integer DEFAULT 1 NOT NULL,
	"error" text,
	"request" jsonb,
	CONSTRAINT "invocations_trigger_ck" CHECK (trigger in ('http', 'async', 'cron', 'cli')),
	CONSTRAINT "invocations_state_ck" CHECK (state in ('queued', 'running', 'succeeded', 'failed', 'lost', 'cancelled')),
	CONSTRAINT "invocations_reason_ck" CHECK (reason in ('exited', 'signaled', 'timeout', 'oom', 'stopped', 'setup_failed', 'lost'))
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"function" text NOT NULL,
	"payload" "bytea",
	"state" text DEFAULT 'queued' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer DEFAULT 3 NOT NULL,
	"run_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"lease_owner" text,
	"lease_expires_at" timestamp (3) with time zone,
	"heartbeat_at" timestamp (3) with time zone,
	"last_error" text,
	CONSTRAINT "jobs_state_ck" CHECK (state in ('queued', 'leased', 'done', 'dead'))
);
--> statement-breakpoint
CREATE TABLE "spans" (
	"span_id" text PRIMARY KEY NOT NULL,
	"trace_id" text NOT NULL,
	"parent_span_id" text,
	"invocation_id" text,
	"name" text NOT NULL,
	"start_ns" bigint NOT NULL,
	"end_ns" bigint NOT NULL,
	"attributes" jsonb
);
--> statement-breakpoint
CREATE TABLE "usage" (
	"invocation_id" text PRIMARY KEY NOT NULL,
	"cpu_user_ms" bigint NOT NULL,
	"cpu_system_ms" bigint NOT NULL,
	"memory_peak_bytes" bigint NOT NULL,
	"max_rss_bytes" bigint NOT NULL,
	"pids_peak" integer NOT NULL,
	"rss_bytes" bigint,
	"cache_bytes" bigint,
	"swap_bytes" bigint,
	"throttled_periods" bigint,
	"throttled_ms" bigint,
	"io_read_bytes" bigint,
	"io_write_bytes" bigint,
	"samples" jsonb
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_id_invocations_id_fk" FOREIGN KEY ("id") REFERENCES "public"."invocations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage" ADD CONSTRAINT "usage_invocation_id_invocations_id_fk" FOREIGN KEY ("invocation_id") REFERENCES "public"."invocations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "invocations_function_queued_at_idx" ON "invocations" USING btree ("function","queued_at");--> statement-breakpoint
CREATE INDEX "invocations_state_idx" ON "invocations" USING btree ("state");--> statement-breakpoint
CREATE UNIQUE INDEX "invocations_function_idempotency_key_uq" ON "invocations" USING btree ("function","idempotency_key");--> statement-breakpoint
CREATE INDEX "jobs_state_run_at_idx" ON "jobs" USING btree ("state","run_at");--> statement-breakpoint
CREATE INDEX "spans_invocation_id_idx" ON "spans" USING btree ("invocation_id");--> statement-breakpoint
CREATE INDEX "spans_trace_id_idx" ON "spans" USING btree ("trace_id");