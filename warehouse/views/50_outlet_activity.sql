-- outlet_activity: one row per outlet with stored articles; flags outlets that have "gone quiet".
--   source VARCHAR, articles BIGINT (stored, non-seed), last_published_at TIMESTAMPTZ
--   (newest publication time, else fetch time), typical_gap_hours DOUBLE (median of the
--   non-zero gaps between its last 30 articles; NULL with fewer than 2: pages that give only a
--   date put a day's articles at one instant, and a cadence of 0 hours would make an outlet
--   "gone quiet" the day after its first run), quiet_hours DOUBLE (since
--   last_published_at), gone_quiet BOOLEAN (quiet for longer than 3 typical gaps and at
--   least 24 hours; false while the cadence is unknown)
CREATE OR REPLACE VIEW outlet_activity AS
WITH dated AS (
    SELECT source, coalesce(published_at, fetched_at) AS ts,
           row_number() OVER (PARTITION BY source
                              ORDER BY coalesce(published_at, fetched_at) DESC) AS rn
    FROM doc WHERE NOT is_seed
), gaps AS (
    SELECT source, ts,
           epoch(ts - lead(ts) OVER (PARTITION BY source ORDER BY ts DESC)) / 3600 AS gap_h
    FROM dated WHERE rn <= 30
), cadence AS (
    SELECT source, max(ts) AS last_published_at,
           CASE WHEN count(*) FILTER (WHERE gap_h > 0) >= 2
                THEN median(gap_h) FILTER (WHERE gap_h > 0) END AS typical_gap_hours
    FROM gaps GROUP BY source
)
SELECT c.source,
       (SELECT count(*) FROM doc d WHERE d.source = c.source AND NOT d.is_seed) AS articles,
       c.last_published_at,
       c.typical_gap_hours,
       epoch(now() - c.last_published_at) / 3600 AS quiet_hours,
       c.typical_gap_hours IS NOT NULL
           AND epoch(now() - c.last_published_at) / 3600 > greatest(3 * c.typical_gap_hours, 24)
           AS gone_quiet
FROM cadence c;
