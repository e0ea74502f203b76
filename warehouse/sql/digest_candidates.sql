-- What a digest may contain: one row per story and topic, for every story (copy cluster, with
-- its versions in other languages: articles.translation_of) with an article stored since
-- $since. Subscriber filters, windows and the delivery log are applied in alerts/select.py.
-- A story is keyed by its lead (articles.is_lead: its original, or, when the original is a
-- seed, the first article stored that copies the seed): the lead's id is the delivery log's
-- key and its tags are the story's topics, and neither changes as copies arrive. It is shown
-- as its first report: the member published first, by the rule of the `clusters` view
-- (warehouse/views/70_clusters.sql, `first_id`: by publication time, members without one
-- after every dated member by when they were stored, ties by id), among the story's
-- articles: seeds are never shown and never count as an outlet, so for a copy of a seed this
-- is the first copy published, where `clusters` names the seed. Within one ingest run outlets
-- are stored in the order of sources.toml, so the lead can be a reprint of an article stored
-- a moment later; the first report is not.
--   id                              the lead's (the delivery log's key)
--   first_id, title, url, source, published_at, fetched_at, lang   of the first report (its
--                          text is read only for the rows a channel selects: digest_texts.sql)
--   topic, score, evidence   one of the lead's tags
--   also       VARCHAR[]   the other outlets carrying the story, alphabetically (NULL: none),
--                          but those of its versions in other languages (named in `versions`)
--   members    STRUCT(source VARCHAR, fetched_at TIMESTAMPTZ)[]   every article of the story,
--                          lead included, oldest first: an outlet filter matches the story
--                          from the time its outlet's copy was stored
--   last_seen  TIMESTAMPTZ  when the story's latest article was stored
--   versions   STRUCT(id, lang, url, title, source, published_at, fetched_at)[]   for a story
--                          in several languages (one with a translation), its first report in
--                          each language (by the same rule; 'und' left out), by language;
--                          NULL for a story in one language. A subscriber who reads none of
--                          the first report's language is shown the version in theirs.
-- Parameters: $since TIMESTAMPTZ.
WITH touched AS (
    SELECT DISTINCT coalesce(translation_of, duplicate_of, id) AS cluster_id
    FROM doc
    WHERE fetched_at >= $since AND NOT is_seed
), story AS (
    SELECT d.cluster_id,
           arg_min(d.id, (d.published_at IS NULL, coalesce(d.published_at, d.fetched_at), d.id))
               AS first_id,
           list({'source': d.source, 'fetched_at': d.fetched_at} ORDER BY d.fetched_at, d.id)
               AS members,
           max(d.fetched_at) AS last_seen,
           bool_or(d.translation_of IS NOT NULL AND d.duplicate_of IS NULL) AS translated
    FROM articles d
    WHERE NOT d.is_seed AND d.cluster_id IN (SELECT cluster_id FROM touched)
    GROUP BY 1
), version AS (
    SELECT coalesce(d.translation_of, d.duplicate_of, d.id) AS cluster_id, d.lang,
           arg_min(d.id, (d.published_at IS NULL, coalesce(d.published_at, d.fetched_at), d.id))
               AS id
    FROM doc d
    WHERE NOT d.is_seed AND d.lang <> 'und'
      AND coalesce(d.translation_of, d.duplicate_of, d.id) IN (
          SELECT cluster_id FROM story WHERE translated)
    GROUP BY ALL
), versions AS (
    SELECT v.cluster_id,
           list({'id': x.id, 'lang': x.lang, 'url': x.url, 'title': x.title,
                 'source': x.source, 'published_at': x.published_at,
                 'fetched_at': x.fetched_at} ORDER BY x.lang) AS versions
    FROM version v
    JOIN doc x ON x.id = v.id
    GROUP BY 1
    HAVING count(*) > 1
)
SELECT a.id, f.id AS first_id, f.title, f.url, f.source, f.published_at, f.fetched_at,
       f.lang,
       dt.topic, dt.score, dt.evidence,
       nullif(list_sort(list_distinct([m.source FOR m IN s.members IF m.source <> f.source
           AND NOT list_contains([x.source FOR x IN coalesce(v.versions, [])
                                  IF x.lang <> f.lang], m.source)])), []) AS also,
       s.members, s.last_seen, v.versions
FROM story s
JOIN articles a ON a.cluster_id = s.cluster_id AND a.is_lead
JOIN doc f ON f.id = s.first_id
LEFT JOIN versions v ON v.cluster_id = s.cluster_id
JOIN doc_topic dt ON dt.doc_id = a.id
ORDER BY a.id, dt.score DESC;
