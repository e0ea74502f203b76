-- One run's fetch-log rows in one statement (executemany costs ~0.3 ms a row in DuckDB, and an
-- ingest logs a row per page). One list element per row, unnested together. Parameters:
-- $run (run_id), $source, $kind, $url, $outcome, $status, $reason, $bytes, $ms, $at.
INSERT INTO fetch_event
SELECT $run, unnest($source::VARCHAR[]), unnest($kind::VARCHAR[]), unnest($url::VARCHAR[]),
       unnest($outcome::VARCHAR[]), unnest($status::INTEGER[]), unnest($reason::VARCHAR[]),
       unnest($bytes::BIGINT[]), unnest($ms::INTEGER[]), unnest($at::TIMESTAMPTZ[]);
