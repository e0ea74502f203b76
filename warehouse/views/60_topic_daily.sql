-- topic_daily: articles per day, topic, language and outlet; each copy cluster counted once
-- (copies, duplicate_of NOT NULL, and seeds are left out).
--   day      DATE       publication date (the storage date when the page states none)
--   topic    VARCHAR    topic key
--   lang     VARCHAR    language of the article
--   source   VARCHAR    outlet key
--   articles BIGINT     original articles
CREATE OR REPLACE VIEW topic_daily AS
SELECT CAST(coalesce(d.published_at, d.fetched_at) AS DATE) AS day, dt.topic, d.lang,
       d.source, count(*) AS articles
FROM doc d JOIN doc_topic dt ON dt.doc_id = d.id
WHERE d.duplicate_of IS NULL AND NOT d.is_seed
GROUP BY ALL;
