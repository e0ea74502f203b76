-- The matching articles (search_matched.sql, formatted in below), newest first.
SELECT id, published_at, source, lang, title, url
FROM ({matched})
ORDER BY dated DESC, id DESC
LIMIT $n
