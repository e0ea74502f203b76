-- Score every target document against the compiled topic rules and insert the tags.
-- Parameters: $all BOOLEAN (every document) or $ids BIGINT[] (those documents only).
-- Token text: lower-cased, ё folded to е, every run of non-letters replaced by two spaces, so
-- that a rule pattern ` (term) ` can consume one space on each side of each match.
-- Score per topic: each distinct matched phrase earns title_weight per title match plus 1 per
-- body match, each capped at max_hits_per_phrase; `exclude` phrases subtract the same way;
-- a topic with `context` rules applies only when one of them also matched.
INSERT INTO doc_topic
WITH settings AS (
    SELECT title_weight, max_hits_per_phrase FROM topic_settings LIMIT 1
), docs AS (
    SELECT id,
           ' ' || regexp_replace(replace(lower(coalesce(title, '')), 'ё', 'е'),
                                 '[^\pL\pN]+', '  ', 'g') || ' ' AS t,
           ' ' || regexp_replace(replace(lower(text), 'ё', 'е'),
                                 '[^\pL\pN]+', '  ', 'g') || ' ' AS b
    FROM doc
    WHERE $all OR id IN (SELECT unnest($ids::BIGINT[]))
), matches AS (
    SELECT d.id, r.topic, r.kind, 'title' AS part,
           unnest(regexp_extract_all(d.t, r.pattern, 1)) AS phrase
    FROM docs d CROSS JOIN topic_rule r
    UNION ALL
    SELECT d.id, r.topic, r.kind, 'body' AS part,
           unnest(regexp_extract_all(d.b, r.pattern, 1)) AS phrase
    FROM docs d CROSS JOIN topic_rule r
), per_phrase AS (
    SELECT m.id, m.topic, m.kind, regexp_replace(m.phrase, ' +', ' ', 'g') AS phrase,
           least(count(*) FILTER (WHERE m.part = 'title'), any_value(s.max_hits_per_phrase))
               * any_value(s.title_weight)
           + least(count(*) FILTER (WHERE m.part = 'body'), any_value(s.max_hits_per_phrase))
               AS points
    FROM matches m CROSS JOIN settings s
    GROUP BY m.id, m.topic, m.kind, regexp_replace(m.phrase, ' +', ' ', 'g')
), per_topic AS (
    SELECT id, topic,
           coalesce(sum(points) FILTER (WHERE kind = 'terms'), 0) AS pos,
           coalesce(sum(points) FILTER (WHERE kind = 'exclude'), 0) AS neg,
           count(*) FILTER (WHERE kind = 'context') AS ctx,
           list(phrase ORDER BY points DESC, phrase) FILTER (WHERE kind = 'terms') AS evidence
    FROM per_phrase
    GROUP BY id, topic
)
SELECT p.id, p.topic, (p.pos - p.neg)::INTEGER, p.evidence
FROM per_topic p JOIN topic t USING (topic)
WHERE p.pos - p.neg >= t.min_score
  AND (p.ctx > 0 OR NOT EXISTS (
        SELECT 1 FROM topic_rule r WHERE r.topic = p.topic AND r.kind = 'context'));
