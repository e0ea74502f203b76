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
--   cluster_id    BIGINT     story: the id of its lead's cluster root, shared by all its copies
--                            and translations (translation_of, else duplicate_of, else id)
--   is_lead       BOOLEAN    stands for its story when stories are counted: the original (a
--                            document neither a copy nor a translation), or, when the story's
--                            root is a seed (never news), the first article of it stored;
--                            false for seeds, copies and translations. Counting rows where
--                            is_lead counts each story once, whatever its languages.
--   translation_of BIGINT    the story's lead when this article joined it as a version in
--                            another language (its page, or the lead's version's page, declares
--                            the other with <link rel="alternate" hreflang>), or as a near-copy
--                            of such a version; NULL otherwise (and for articles stored before
--                            migration 0019). A translation has no duplicate_of.
CREATE OR REPLACE VIEW articles AS
SELECT id, source, url, canonical_url, title, author, published_at, fetched_at, lang,
       lang_confidence, text, n_words, is_seed, duplicate_of, similarity, run_id,
       coalesce(translation_of, duplicate_of, id) AS cluster_id,
       NOT is_seed AND (coalesce(translation_of, duplicate_of) IS NULL OR id IN (
           SELECT min(c.id) FROM doc c JOIN doc s
               ON s.id = coalesce(c.translation_of, c.duplicate_of)
           WHERE s.is_seed GROUP BY s.id)) AS is_lead,
       translation_of
FROM doc;
