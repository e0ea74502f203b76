-- Stories carried by more than three outlets, widest first.
SELECT cluster_id, first_title, size, outlets
FROM clusters
WHERE len(outlets) > 3
ORDER BY size DESC;
