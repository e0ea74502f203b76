-- Articles a digest may contain: originals only (copies are named under "also reported by"),
-- never seeds, tagged with at least one topic, stored since $since. One row per (article,
-- topic); subscriber filters and the delivery log are applied in alerts/select.py.
-- Parameters: $since TIMESTAMPTZ.
SELECT a.id, a.title, a.url, a.source, a.published_at, a.fetched_at, a.lang, a.text,
       dt.topic, dt.score, dt.evidence,
       (SELECT list(DISTINCT c.source ORDER BY c.source) FROM doc c
        WHERE c.duplicate_of = a.id AND c.source <> a.source AND NOT c.is_seed) AS also
FROM doc a
JOIN doc_topic dt ON dt.doc_id = a.id
WHERE NOT a.is_seed
  AND a.duplicate_of IS NULL
  AND a.fetched_at >= $since
ORDER BY a.id, dt.score DESC;
