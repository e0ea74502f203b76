-- Articles whose ids the phrase-search index matched (table `matched`, registered by the
-- caller), narrowed by the optional filters (NULL: none), newest first.
SELECT a.id, a.published_at, a.source, a.lang, a.title, a.url
FROM articles a JOIN matched m ON m.id = a.id
WHERE ($since IS NULL OR coalesce(a.published_at, a.fetched_at) >= CAST($since AS TIMESTAMPTZ))
  AND ($source IS NULL OR a.source = $source)
  AND ($lang IS NULL OR a.lang = $lang)
  AND ($seeds OR NOT a.is_seed)
ORDER BY coalesce(a.published_at, a.fetched_at) DESC, a.id DESC
LIMIT $n
