-- The articles whose ids the phrase-search index matched (table `matched`, registered by the
-- caller), narrowed by the optional filters (NULL: none), with what ordering and grouping
-- them needs: their story (cluster_id, is_lead) and their date (dated). Read by
-- search_articles.sql and search_stories.sql.
SELECT a.id, a.published_at, a.source, a.lang, a.title, a.url, a.cluster_id, a.is_lead,
       coalesce(a.published_at, a.fetched_at) AS dated
FROM articles a JOIN matched m ON m.id = a.id
WHERE ($since IS NULL OR coalesce(a.published_at, a.fetched_at) >= CAST($since AS TIMESTAMPTZ))
  AND ($source IS NULL OR a.source = $source)
  AND ($lang IS NULL OR a.lang = $lang)
  AND ($seeds OR NOT a.is_seed)
