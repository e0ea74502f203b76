-- outlet_health: one row per outlet seen by an ingest run.
--   source VARCHAR, name VARCHAR, last_run_at TIMESTAMPTZ, last_ok BOOLEAN,
--   last_success_at TIMESTAMPTZ, consecutive_failures INTEGER (runs in a row, newest first),
--   last_error VARCHAR, articles BIGINT (stored, non-seed), last_new_articles INTEGER,
--   runs INTEGER, configured BOOLEAN (listed in the sources file as the last run read it;
--   an outlet removed from it keeps its history here and is never failing)
CREATE OR REPLACE VIEW outlet_health AS
WITH ordered AS (
    SELECT *, row_number() OVER (PARTITION BY source ORDER BY logged_at DESC) AS rn
    FROM source_run
), streak AS (
    SELECT source, coalesce(min(rn) FILTER (WHERE ok) - 1, count(*)) AS consecutive_failures
    FROM ordered GROUP BY source
)
SELECT o.source, o.name, o.logged_at AS last_run_at, o.ok AS last_ok,
       (SELECT max(logged_at) FROM source_run s WHERE s.source = o.source AND s.ok) AS last_success_at,
       st.consecutive_failures::INTEGER AS consecutive_failures,
       (SELECT s.error FROM source_run s WHERE s.source = o.source AND s.error IS NOT NULL
        ORDER BY s.logged_at DESC LIMIT 1) AS last_error,
       (SELECT count(*) FROM doc d WHERE d.source = o.source) AS articles,
       o.new_articles AS last_new_articles,
       (SELECT count(*) FROM source_run s WHERE s.source = o.source)::INTEGER AS runs,
       o.source IN (SELECT source FROM configured_source)
           OR NOT EXISTS (SELECT 1 FROM configured_source) AS configured
FROM ordered o JOIN streak st USING (source)
WHERE o.rn = 1;
