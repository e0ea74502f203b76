-- The story lead of stored documents: a translation's or a copy of one's translation_of,
-- else a copy's duplicate_of, else the document itself (articles.cluster_id). {ids}: a
-- literal list of document ids formatted in by warehouse/translations.py (literal, so that
-- DuckDB filters the scan by id; see dedup_texts.sql).
SELECT id, coalesce(translation_of, duplicate_of, id) AS lead
FROM doc
WHERE id IN ({ids});
