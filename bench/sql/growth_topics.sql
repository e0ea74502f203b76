-- Topic tags for synthetic documents $lo..$hi (ids): each topic on about one article in ten.
INSERT INTO doc_topic
SELECT d.id, t.topic, 3, ['synthetic']
FROM doc d, topic t
WHERE d.id BETWEEN $lo AND $hi AND hash(d.id, t.topic) % 10 = 0;
