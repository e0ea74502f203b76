-- article_topics: one row per article and topic that applies to it.
--   article_id BIGINT     articles.id
--   topic      VARCHAR    topic key (agreements, entry_bans, deportations, legal_status,
--                         recruitment_training, remittances, rights_abuse, returnees,
--                         war_recruitment)
--   label      VARCHAR    human label of the topic
--   score      INTEGER    rule score (title matches weigh more than body matches)
--   evidence   VARCHAR[]  phrases of the article that matched the topic's rules
CREATE OR REPLACE VIEW article_topics AS
SELECT dt.doc_id AS article_id, dt.topic, t.label, dt.score, dt.evidence
FROM doc_topic dt LEFT JOIN topic t USING (topic);
