-- Step 2 of tagging, run once per compiled rule (topic_rule row) so that DuckDB compiles its
-- pattern once: every match in titles and bodies. Parameters: $topic, $kind, $pattern.
INSERT INTO topic_match
SELECT id, $topic, $kind, part, unnest(regexp_extract_all(s, $pattern, 1))
FROM topic_document;
