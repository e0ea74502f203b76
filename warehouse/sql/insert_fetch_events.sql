-- One run's fetch-log rows in one statement (executemany costs ~0.3 ms a row in DuckDB, and an
-- ingest logs a row per page): $run_id, and one list per other column, aligned
-- (warehouse/store.py insert_fetch_events).
INSERT INTO fetch_event
SELECT $run_id, unnest($source::VARCHAR[]), unnest($kind::VARCHAR[]), unnest($url::VARCHAR[]),
       unnest($outcome::VARCHAR[]), unnest($http_status::INTEGER[]),
       unnest($reason::VARCHAR[]), unnest($n_bytes::BIGINT[]), unnest($elapsed_ms::INTEGER[]),
       unnest($logged_at::TIMESTAMPTZ[]);
