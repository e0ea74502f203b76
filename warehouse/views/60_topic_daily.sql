-- topic_daily: stories per day, topic, language and outlet; each story (a copy cluster with
-- its versions in other languages) counted once, as its lead (articles.is_lead: the original,
-- or the first copy of a seed; seeds left out): a story in Russian and English counts once,
-- in the language of its lead.
--   day      DATE       publication date in UTC (the storage date when the page states
--                       none), the same whatever the reading session's TimeZone
--   topic    VARCHAR    topic key
--   lang     VARCHAR    language of the lead
--   source   VARCHAR    outlet key of the lead
--   articles BIGINT     stories (leads)
CREATE OR REPLACE VIEW topic_daily AS
SELECT CAST(coalesce(a.published_at, a.fetched_at) AT TIME ZONE 'UTC' AS DATE) AS day,
       dt.topic, a.lang, a.source, count(*) AS articles
FROM articles a JOIN doc_topic dt ON dt.doc_id = a.id
WHERE a.is_lead
GROUP BY ALL;
