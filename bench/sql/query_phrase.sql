-- Articles whose text contains a phrase (any case), newest first. regexp_matches with (?i) is
-- about three times faster than ILIKE in DuckDB on long texts.
SELECT id, source, published_at, title
FROM articles
WHERE regexp_matches(text, '(?i)entry ban')
ORDER BY published_at DESC;
