-- runs: one row per flow run.
--   run_id VARCHAR, flow VARCHAR (ingest | digest | retag), started_at, finished_at TIMESTAMPTZ,
--   status VARCHAR (running | ok | partial | failed | interrupted), summary JSON
-- A run that never finished (killed) shows as 'interrupted' once a later run of it exists.
CREATE OR REPLACE VIEW runs AS
SELECT run_id, flow, started_at, finished_at,
       CASE WHEN status = 'running' AND EXISTS (
                SELECT 1 FROM run r2 WHERE r2.flow = run.flow AND r2.started_at > run.started_at)
            THEN 'interrupted' ELSE status END AS status,
       summary
FROM run;

-- fetches: the fetch log, one row per request or processing outcome.
--   run_id, source, kind (feed | page), url, outcome (ok | not_modified | soft | hard | skipped),
--   http_status INTEGER, reason VARCHAR, n_bytes BIGINT, elapsed_ms INTEGER, logged_at TIMESTAMPTZ
CREATE OR REPLACE VIEW fetches AS
SELECT run_id, source, kind, url, outcome, http_status, reason, n_bytes, elapsed_ms, logged_at
FROM fetch_event;
