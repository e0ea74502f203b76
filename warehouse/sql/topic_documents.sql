-- Step 1 of tagging: the token text of the target documents, in a temporary table, one row
-- per part (title, body): step 2 then compiles each rule's pattern once, not once per part.
-- {where}: `true` (every document) or `id IN (<literal list of ids>)`, formatted in by
-- warehouse/store.py from integers. Why literal: DuckDB then filters the scan by id and reads
-- the text of those documents only; a list parameter made it a join that read every text.
-- Token text: NFC-normalised (a decomposed Tajik ӣ is one letter), lower-cased, ё folded to е,
-- every run of non-letters replaced by two spaces, so that a rule pattern ` (term) ` can
-- consume one space on each side of each match and leave one for the next.
CREATE OR REPLACE TEMP TABLE topic_document AS
SELECT id, part,
       ' ' || regexp_replace(replace(lower(nfc_normalize(s)), 'ё', 'е'),
                             '[^\pL\pN]+', '  ', 'g') || ' ' AS s
FROM (SELECT id, 'title' AS part, coalesce(title, '') AS s FROM doc WHERE {where}
      UNION ALL
      SELECT id, 'body' AS part, text AS s FROM doc WHERE {where});
