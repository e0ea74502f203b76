-- clusters: one row per copy cluster (an original and every copy of it; a lone article is a
-- cluster of one).
--   cluster_id     BIGINT     id of the original (articles.cluster_id)
--   first_title    VARCHAR    headline of the original
--   first_source   VARCHAR    outlet (or 'seed') of the original
--   first_url      VARCHAR
--   first_published TIMESTAMPTZ publication time of the original
--   size           BIGINT     documents in the cluster (original included)
--   outlets        VARCHAR[]  distinct outlets carrying it, alphabetically
--   last_seen      TIMESTAMPTZ when the latest copy was stored
CREATE OR REPLACE VIEW clusters AS
SELECT o.id AS cluster_id, o.title AS first_title, o.source AS first_source,
       o.url AS first_url, o.published_at AS first_published, count(*) AS size,
       list(DISTINCT m.source ORDER BY m.source) AS outlets, max(m.fetched_at) AS last_seen
FROM doc m JOIN doc o ON o.id = coalesce(m.duplicate_of, m.id)
GROUP BY o.id, o.title, o.source, o.url, o.published_at;
