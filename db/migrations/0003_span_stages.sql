ALTER TABLE "spans" ADD COLUMN "stages" jsonb;--> statement-breakpoint
CREATE VIEW "public"."span_rows" AS (
  select span_id, trace_id, parent_span_id, invocation_id, name, start_ns, end_ns, attributes from spans
  union all
  select s.e->>'i', p.trace_id, p.span_id, p.invocation_id, s.e->>'n',
         (s.e->>'s')::bigint, (s.e->>'e')::bigint,
         coalesce(s.e->'a', jsonb_build_object('bunker.stage', s.e->>'n', 'faas.invocation_id', p.invocation_id))
  from spans p cross join lateral jsonb_array_elements(p.stages) as s(e)
  where p.stages is not null);