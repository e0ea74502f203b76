-- articles: one row per stored document (fetched articles and seeds).
--   id            BIGINT     stable article id
--   source        VARCHAR    outlet key from sources.toml, or 'seed'
--   url           VARCHAR    URL as first seen (tracking parameters stripped in canonical_url)
--   canonical_url VARCHAR    normalised URL used to recognise URL copies
--   title         VARCHAR    headline
--   author        VARCHAR    byline when the page states one
--   published_at  TIMESTAMPTZ publication time stated by the page or feed (NULL if unknown)
--   fetched_at    TIMESTAMPTZ when migwatch stored it
--   lang          VARCHAR    en, ru, tg, another ISO 639-1 code, or 'und' (undetermined)
--   lang_confidence DOUBLE   0..1
--   text          VARCHAR    extracted article body
--   n_words       INTEGER    words in text
--   is_seed       BOOLEAN    part of the shipped seed corpus
--   duplicate_of  BIGINT     id of the earliest stored copy (article or seed), NULL if original
--   similarity    DOUBLE     resemblance to duplicate_of (1.0 = same text)
--   run_id        VARCHAR    ingest run that stored it (provenance)
--   cluster_id    BIGINT     copy cluster: the id of the original, shared by all its copies
--   is_lead       BOOLEAN    stands for its cluster when stories are counted: the original,
--                            or, when the original is a seed (never news), the first copy
--                            stored; false for seeds and every other copy. Counting rows
--                            where is_lead counts each story once.
CREATE OR REPLACE VIEW articles AS
SELECT id, source, url, canonical_url, title, author, published_at, fetched_at, lang,
       lang_confidence, text, n_words, is_seed, duplicate_of, similarity, run_id,
       coalesce(duplicate_of, id) AS cluster_id,
       NOT is_seed AND (duplicate_of IS NULL OR id IN (
           SELECT min(c.id) FROM doc c JOIN doc s ON s.id = c.duplicate_of
           WHERE s.is_seed GROUP BY c.duplicate_of)) AS is_lead
FROM doc;
