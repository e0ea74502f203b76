-- failing_outlets: outlets of the sources file whose last `failing_after` ingest runs or more
-- all failed.
--   source VARCHAR, name VARCHAR, consecutive_failures INTEGER, failing_after INTEGER,
--   last_success_at TIMESTAMPTZ (NULL = never), last_error VARCHAR
CREATE OR REPLACE VIEW failing_outlets AS
SELECT h.source, h.name, h.consecutive_failures, s.failing_after, h.last_success_at,
       h.last_error
FROM outlet_health h, (SELECT max(failing_after) AS failing_after FROM health_setting) s
WHERE h.consecutive_failures >= s.failing_after AND h.configured
ORDER BY h.consecutive_failures DESC, h.source;
