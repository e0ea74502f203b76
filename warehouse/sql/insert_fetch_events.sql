-- One run's fetch-log rows in one statement (executemany costs ~0.3 ms a row in DuckDB, and an
-- ingest logs a row per page): $run_id, and event_batch, the rows registered as a table
-- (warehouse/store.py insert_fetch_events, warehouse/db.py scanned).
INSERT INTO fetch_event
SELECT $run_id, source::VARCHAR, kind::VARCHAR, url::VARCHAR, outcome::VARCHAR,
       http_status::INTEGER, reason::VARCHAR, n_bytes::BIGINT, elapsed_ms::INTEGER,
       logged_at::TIMESTAMPTZ
FROM event_batch;
