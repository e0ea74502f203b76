-- Articles per topic and day over the 14 days up to $today (originals, no seeds), for the
-- digest header chart: topic, day DATE, n. Day is the publication date, else the fetch date.
-- Parameters: $today DATE.
SELECT dt.topic, coalesce(a.published_at, a.fetched_at)::DATE AS day, count(*) AS n
FROM doc a
JOIN doc_topic dt ON dt.doc_id = a.id
WHERE NOT a.is_seed
  AND a.duplicate_of IS NULL
  AND coalesce(a.published_at, a.fetched_at)::DATE BETWEEN $today - 13 AND $today
GROUP BY ALL;
