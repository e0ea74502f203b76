-- Step 1 of tagging: the token text of every target document, in a temporary table.
-- Parameters: $all BOOLEAN (every document) or $ids BIGINT[] (those documents only).
-- Token text: NFC-normalised (a decomposed Tajik ӣ is one letter), lower-cased, ё folded to е,
-- every run of non-letters replaced by two spaces, so that a rule pattern ` (term) ` can
-- consume one space on each side of each match and leave one for the next.
CREATE OR REPLACE TEMP TABLE topic_document AS
SELECT id,
       ' ' || regexp_replace(replace(lower(nfc_normalize(coalesce(title, ''))), 'ё', 'е'),
                             '[^\pL\pN]+', '  ', 'g') || ' ' AS t,
       ' ' || regexp_replace(replace(lower(nfc_normalize(text)), 'ё', 'е'),
                             '[^\pL\pN]+', '  ', 'g') || ' ' AS b
FROM doc
WHERE $all OR id IN (SELECT unnest($ids::BIGINT[]));
