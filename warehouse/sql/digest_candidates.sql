-- What a digest may contain: one row per story and topic, for every story (copy cluster) with
-- an article stored since $since. Subscriber filters, windows and the delivery log are applied
-- in alerts/select.py.
-- A story is shown as its lead (articles.is_lead): its original, or, when the original is a
-- seed (the starting corpus, never news), the first article stored that copies the seed.
-- Seeds are never shown and never count as an outlet. The lead does not change as copies
-- arrive (the delivery log is keyed by it).
--   id, title, url, source, published_at, fetched_at, lang, text   of the lead
--   topic, score, evidence   one of the lead's tags
--   also       VARCHAR[]   the other outlets carrying the story, alphabetically (NULL: none)
--   members    STRUCT(source VARCHAR, fetched_at TIMESTAMPTZ)[]   every article of the story,
--                          lead included, oldest first: an outlet filter matches the story
--                          from the time its outlet's copy was stored
--   last_seen  TIMESTAMPTZ  when the story's latest article was stored
-- Parameters: $since TIMESTAMPTZ.
WITH touched AS (
    SELECT DISTINCT coalesce(duplicate_of, id) AS cluster_id
    FROM doc
    WHERE fetched_at >= $since AND NOT is_seed
), story AS (
    SELECT d.cluster_id,
           list({'source': d.source, 'fetched_at': d.fetched_at} ORDER BY d.fetched_at, d.id)
               AS members,
           max(d.fetched_at) AS last_seen
    FROM articles d
    WHERE NOT d.is_seed AND d.cluster_id IN (SELECT cluster_id FROM touched)
    GROUP BY 1
)
SELECT a.id, a.title, a.url, a.source, a.published_at, a.fetched_at, a.lang, a.text,
       dt.topic, dt.score, dt.evidence,
       nullif(list_sort(list_distinct([m.source FOR m IN s.members IF m.source <> a.source])),
              []) AS also,
       s.members, s.last_seen
FROM story s
JOIN articles a ON a.cluster_id = s.cluster_id AND a.is_lead
JOIN doc_topic dt ON dt.doc_id = a.id
ORDER BY a.id, dt.score DESC;
