-- Articles per topic, month and language (copies counted once).
SELECT date_trunc('month', day) AS month, topic, lang, sum(articles) AS articles
FROM topic_daily
GROUP BY ALL
ORDER BY month, topic, lang;
