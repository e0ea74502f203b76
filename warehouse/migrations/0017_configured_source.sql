-- The outlets of the sources file, as the last ingest run or operator-alert pass read it: an
-- outlet removed from the file keeps its history (source_run, doc) but is no longer failing
-- (outlet_health.configured, failing_outlets, `migwatch status`). Empty, as in a warehouse
-- no run has written since this migration: every outlet counts as configured.
CREATE TABLE configured_source (
    source   VARCHAR PRIMARY KEY,
    noted_at TIMESTAMPTZ NOT NULL
);
