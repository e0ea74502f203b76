-- Articles a recipient has not been sent: originals only (copies are named under
-- "also reported by"), never seeds, tagged with at least one topic, stored in the window.
-- One row per (article, topic). Parameters: $recipient VARCHAR, $since TIMESTAMPTZ.
SELECT a.id, a.title, a.url, a.source, a.published_at, a.lang, a.text,
       dt.topic, dt.score, dt.evidence,
       (SELECT list(DISTINCT c.source ORDER BY c.source) FROM doc c
        WHERE c.duplicate_of = a.id AND c.source <> a.source AND NOT c.is_seed) AS also
FROM doc a
JOIN doc_topic dt ON dt.doc_id = a.id
WHERE NOT a.is_seed
  AND a.duplicate_of IS NULL
  AND a.fetched_at >= $since
  AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.recipient = $recipient AND d.doc_id = a.id)
ORDER BY a.id, dt.score DESC;
