-- Step 3 of tagging: score the matches and insert the tags.
-- Score per topic: each distinct matched phrase earns title_weight per title match plus 1 per
-- body match, each capped at max_hits_per_phrase; `exclude` phrases subtract the same way;
-- a topic with `context` rules applies only when one of them also matched.
INSERT INTO doc_topic
WITH settings AS (
    SELECT title_weight, max_hits_per_phrase FROM topic_settings LIMIT 1
), per_phrase AS (
    -- The inflected forms of one phrase (запрет на въезд, запрета на въезд, запретом на
    -- въезд; remittance, remittances) count as one phrase: phrase_key keeps 5 letters a word
    -- (warehouse/store.py, phrase_forms: in Python, once per distinct phrase).
    SELECT m.id, m.topic, m.kind, min(m.phrase) AS phrase,
           least(count(*) FILTER (WHERE m.part = 'title'), any_value(s.max_hits_per_phrase))
               * any_value(s.title_weight)
           + least(count(*) FILTER (WHERE m.part = 'body'), any_value(s.max_hits_per_phrase))
               AS points
    FROM topic_match m CROSS JOIN settings s
    GROUP BY m.id, m.topic, m.kind, m.phrase_key
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
