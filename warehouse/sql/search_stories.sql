-- The matching articles (search_matched.sql, formatted in below) one story (articles.cluster_id)
-- a row: the story shown as its lead when the lead matched, else as its first matching
-- article stored, with how many of its articles match and the outlets and languages of the
-- others (its copies and versions in other languages, oldest first). The story with the
-- newest matching article first.
WITH hit AS (
    SELECT *,
           row_number() OVER (PARTITION BY cluster_id ORDER BY is_lead DESC, id) AS k,
           count(*) OVER (PARTITION BY cluster_id) AS n,
           max(dated) OVER (PARTITION BY cluster_id) AS newest
    FROM ({matched})
), others AS (
    SELECT cluster_id, list(source || ' (' || lang || ')' ORDER BY dated, id) AS also
    FROM hit WHERE k > 1 GROUP BY cluster_id
)
SELECT h.id, h.published_at, h.source, h.lang, h.title, h.url, h.n,
       coalesce(o.also, []) AS also
FROM hit h LEFT JOIN others o USING (cluster_id)
WHERE h.k = 1
ORDER BY h.newest DESC, h.id DESC
LIMIT $n
