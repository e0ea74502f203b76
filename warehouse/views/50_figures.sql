-- figures: one row per numeric claim found in an article's text.
--   article_id BIGINT     articles.id
--   seq        INTEGER    order of the figure in the article
--   value      DOUBLE     normalised value ("245 thousand", "245 тыс.", "245 ҳазор" -> 245000;
--                         "$1 billion" -> 1e9; "46 percent" -> 46)
--   value_high DOUBLE     upper end when the text gives a range, else NULL
--   unit       VARCHAR    people | percent | USD | RUB | TJS | EUR
--   counted    VARCHAR    what is counted when recognisable: deported, banned, remittances,
--                         legalised, quota, patents, returned, recruited, construction,
--                         migrants (generic); NULL when not recognised
--   year       INTEGER    the year the figure refers to, when its sentence states one
--   raw        VARCHAR    the matched text ("over $1 billion" -> "$1 billion")
--   sentence   VARCHAR    the sentence it came from
--   source, published_at, lang, is_seed, duplicate_of: of the article (filter copies out with
--                         duplicate_of IS NULL)
CREATE OR REPLACE VIEW figures AS
SELECT f.doc_id AS article_id, f.seq, f.value, f.value_high, f.unit, f.counted, f.year, f.raw,
       f.sentence, d.source, d.published_at, d.lang, d.is_seed, d.duplicate_of
FROM figure f JOIN doc d ON d.id = f.doc_id;
