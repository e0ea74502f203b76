-- Articles whose text contains a phrase, newest first.
SELECT id, source, published_at, title
FROM articles
WHERE text ILIKE '%entry ban%'
ORDER BY published_at DESC;
