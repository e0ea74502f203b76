-- Stories per topic and day over the 14 days up to $today, for the digest header chart, in
-- groups a subscriber's filters can pick from: topic, day DATE, lang, score, outlets (the
-- story's outlets, alphabetically), langs (the languages of a story published in several,
-- its lead's and its translations', alphabetically; NULL for one in one language), n. A
-- story (copy cluster with its translations, seeds left out) counts once, as its lead
-- (articles.is_lead), on the lead's day in $tz (the digest's time zone, `[schedule]
-- timezone`, whose dates the items show): its publication date, else the date it was stored.
-- Parameters: $today DATE (in $tz), $tz VARCHAR (an IANA name).
WITH recent AS (
    SELECT DISTINCT coalesce(translation_of, duplicate_of, id) AS cluster_id
    FROM doc
    WHERE NOT is_seed
      AND CAST(coalesce(published_at, fetched_at) AT TIME ZONE $tz AS DATE)
          BETWEEN $today - 13 AND $today
), story AS (
    SELECT d.cluster_id, list(DISTINCT d.source ORDER BY d.source) AS outlets,
           nullif(list(DISTINCT d.lang ORDER BY d.lang) FILTER (
               WHERE d.is_lead OR (d.translation_of IS NOT NULL AND d.duplicate_of IS NULL)),
               []) AS langs
    FROM articles d
    WHERE NOT d.is_seed AND d.cluster_id IN (SELECT cluster_id FROM recent)
    GROUP BY 1
)
SELECT dt.topic, CAST(coalesce(a.published_at, a.fetched_at) AT TIME ZONE $tz AS DATE) AS day,
       a.lang, dt.score, s.outlets, if(len(s.langs) > 1, s.langs, NULL) AS langs,
       count(*) AS n
FROM story s
JOIN articles a ON a.cluster_id = s.cluster_id AND a.is_lead
JOIN doc_topic dt ON dt.doc_id = a.id
WHERE CAST(coalesce(a.published_at, a.fetched_at) AT TIME ZONE $tz AS DATE)
    BETWEEN $today - 13 AND $today
GROUP BY ALL;
