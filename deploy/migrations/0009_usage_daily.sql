-- Daily rollups of usage_events, for analytics (docs/usage.md) and, later, experiment reports: one
-- row per team, UTC day, model, provider, key, member, cost center, experiment and variant, with
-- counts, sums, sums of squares and two latency histograms. Kept current by the database itself:
-- a statement trigger on usage_events adds every statement's new events (ON CONFLICT's skipped
-- rows are not among them) in the same transaction, whoever inserts them (usage-metering's writers,
-- or SQL by hand), so a rollup never lags its events. Rollups outlive the events' partitions:
-- usage-metering deletes rows older than metering.rollup_retention_months.
CREATE TABLE usage_daily (
  team_id              TEXT NOT NULL,
  day                  DATE NOT NULL,
  model                TEXT NOT NULL,
  provider             TEXT NOT NULL,
  key_id               TEXT NOT NULL,
  member               TEXT NOT NULL,
  cost_center          TEXT NOT NULL,
  experiment           TEXT NOT NULL,
  variant              TEXT NOT NULL,
  requests             BIGINT NOT NULL,
  -- Outcomes 'error', 'cut' and 'unsettled'.
  errors               BIGINT NOT NULL,
  cancelled            BIGINT NOT NULL,
  estimated            BIGINT NOT NULL,
  unpriced             BIGINT NOT NULL,
  prompt_tokens        BIGINT NOT NULL,
  cached_tokens        BIGINT NOT NULL,
  cache_write_tokens   BIGINT NOT NULL,
  completion_tokens    BIGINT NOT NULL,
  reasoning_tokens     BIGINT NOT NULL,
  completion_tokens_sq NUMERIC NOT NULL,
  -- Nano-dollars (1e-9 USD); the squares in nano-dollars squared.
  cost_nano_usd        BIGINT NOT NULL,
  cost_sq              NUMERIC NOT NULL,
  latency_us           BIGINT NOT NULL,
  latency_us_sq        NUMERIC NOT NULL,
  -- Time to first token, over the requests that had one (ttft_us > 0).
  ttft_requests        BIGINT NOT NULL,
  ttft_us              BIGINT NOT NULL,
  ttft_us_sq           NUMERIC NOT NULL,
  -- Counts of requests by latency (and by time to first token) in 13 buckets, upper bounds
  -- exclusive: 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2.5s, 5s, 10s, 30s, 60s, 120s, and beyond.
  latency_histogram    BIGINT[] NOT NULL,
  ttft_histogram       BIGINT[] NOT NULL,
  PRIMARY KEY (team_id, day, model, provider, key_id, member, cost_center, experiment, variant)
);
-- Queries across teams (cost-center allocation) and the retention's delete go by day.
CREATE INDEX usage_daily_day ON usage_daily (day);

-- The statement that adds the events of the relation `source` to usage_daily. One text for the
-- trigger (source: its transition table) and for rebuilding from usage_events.
CREATE FUNCTION usage_daily_upsert(source TEXT) RETURNS TEXT IMMUTABLE LANGUAGE sql AS $fn$
SELECT format($sql$
INSERT INTO usage_daily AS d
SELECT team_id, (start_time AT TIME ZONE 'UTC')::date, model, provider, key_id, member,
       cost_center, experiment, variant,
       count(*),
       count(*) FILTER (WHERE outcome IN ('error', 'cut', 'unsettled')),
       count(*) FILTER (WHERE outcome = 'cancelled'),
       count(*) FILTER (WHERE estimated),
       count(*) FILTER (WHERE unpriced),
       sum(prompt_tokens), sum(cached_tokens), sum(cache_write_tokens), sum(completion_tokens),
       sum(reasoning_tokens), sum(completion_tokens::numeric * completion_tokens),
       sum(cost_nano_usd), sum(cost_nano_usd::numeric * cost_nano_usd),
       sum(latency_us), sum(latency_us::numeric * latency_us),
       count(*) FILTER (WHERE ttft_us > 0), sum(ttft_us), sum(ttft_us::numeric * ttft_us),
       ARRAY[count(*) FILTER (WHERE latency_us < 25000),
             count(*) FILTER (WHERE latency_us >= 25000 AND latency_us < 50000),
             count(*) FILTER (WHERE latency_us >= 50000 AND latency_us < 100000),
             count(*) FILTER (WHERE latency_us >= 100000 AND latency_us < 250000),
             count(*) FILTER (WHERE latency_us >= 250000 AND latency_us < 500000),
             count(*) FILTER (WHERE latency_us >= 500000 AND latency_us < 1000000),
             count(*) FILTER (WHERE latency_us >= 1000000 AND latency_us < 2500000),
             count(*) FILTER (WHERE latency_us >= 2500000 AND latency_us < 5000000),
             count(*) FILTER (WHERE latency_us >= 5000000 AND latency_us < 10000000),
             count(*) FILTER (WHERE latency_us >= 10000000 AND latency_us < 30000000),
             count(*) FILTER (WHERE latency_us >= 30000000 AND latency_us < 60000000),
             count(*) FILTER (WHERE latency_us >= 60000000 AND latency_us < 120000000),
             count(*) FILTER (WHERE latency_us >= 120000000)],
       ARRAY[count(*) FILTER (WHERE ttft_us > 0 AND ttft_us < 25000),
             count(*) FILTER (WHERE ttft_us >= 25000 AND ttft_us < 50000),
             count(*) FILTER (WHERE ttft_us >= 50000 AND ttft_us < 100000),
             count(*) FILTER (WHERE ttft_us >= 100000 AND ttft_us < 250000),
             count(*) FILTER (WHERE ttft_us >= 250000 AND ttft_us < 500000),
             count(*) FILTER (WHERE ttft_us >= 500000 AND ttft_us < 1000000),
             count(*) FILTER (WHERE ttft_us >= 1000000 AND ttft_us < 2500000),
             count(*) FILTER (WHERE ttft_us >= 2500000 AND ttft_us < 5000000),
             count(*) FILTER (WHERE ttft_us >= 5000000 AND ttft_us < 10000000),
             count(*) FILTER (WHERE ttft_us >= 10000000 AND ttft_us < 30000000),
             count(*) FILTER (WHERE ttft_us >= 30000000 AND ttft_us < 60000000),
             count(*) FILTER (WHERE ttft_us >= 60000000 AND ttft_us < 120000000),
             count(*) FILTER (WHERE ttft_us >= 120000000)]
FROM %s
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
-- Rows are locked in key order, so two writers adding to the same rows cannot deadlock.
ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ON CONFLICT (team_id, day, model, provider, key_id, member, cost_center, experiment, variant)
DO UPDATE SET
  requests = d.requests + excluded.requests,
  errors = d.errors + excluded.errors,
  cancelled = d.cancelled + excluded.cancelled,
  estimated = d.estimated + excluded.estimated,
  unpriced = d.unpriced + excluded.unpriced,
  prompt_tokens = d.prompt_tokens + excluded.prompt_tokens,
  cached_tokens = d.cached_tokens + excluded.cached_tokens,
  cache_write_tokens = d.cache_write_tokens + excluded.cache_write_tokens,
  completion_tokens = d.completion_tokens + excluded.completion_tokens,
  reasoning_tokens = d.reasoning_tokens + excluded.reasoning_tokens,
  completion_tokens_sq = d.completion_tokens_sq + excluded.completion_tokens_sq,
  cost_nano_usd = d.cost_nano_usd + excluded.cost_nano_usd,
  cost_sq = d.cost_sq + excluded.cost_sq,
  latency_us = d.latency_us + excluded.latency_us,
  latency_us_sq = d.latency_us_sq + excluded.latency_us_sq,
  ttft_requests = d.ttft_requests + excluded.ttft_requests,
  ttft_us = d.ttft_us + excluded.ttft_us,
  ttft_us_sq = d.ttft_us_sq + excluded.ttft_us_sq,
  latency_histogram = ARRAY(SELECT a + b FROM unnest(d.latency_histogram, excluded.latency_histogram)
                            WITH ORDINALITY AS h(a, b, i) ORDER BY i),
  ttft_histogram = ARRAY(SELECT a + b FROM unnest(d.ttft_histogram, excluded.ttft_histogram)
                         WITH ORDINALITY AS h(a, b, i) ORDER BY i)
$sql$, source)
$fn$;

-- The trigger's function runs that statement on its transition table. The text is written into
-- the function's body here, so that PL/pgSQL plans it once per session: EXECUTE would plan it
-- again for every statement, which doubled the cost of small batches.
DO $do$
BEGIN
  EXECUTE format($create$
    CREATE FUNCTION usage_daily_add() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
      %s;
      RETURN NULL;
    END
    $body$
  $create$, usage_daily_upsert('new_events'));
END
$do$;

CREATE TRIGGER usage_daily_add AFTER INSERT ON usage_events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_add();

-- The events recorded before this migration.
DO $$ BEGIN EXECUTE usage_daily_upsert('usage_events'); END $$;
