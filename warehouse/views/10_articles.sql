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
CREATE OR REPLACE VIEW articles AS
SELECT id, source, url, canonical_url, title, author, published_at, fetched_at, lang,
       lang_confidence, text, n_words, is_seed, duplicate_of, similarity, run_id,
       coalesce(duplicate_of, id) AS cluster_id
FROM doc;
