-- Texts of the few articles `migwatch search` shows, for a passage around the phrase. {ids}: a
-- literal list of document ids (integers), formatted in by warehouse/search.py.
SELECT id, text FROM doc WHERE id IN ({ids});
