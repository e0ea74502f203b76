-- Per-subscriber, per-channel delivery (issue 4). The foundation's `delivery` table keyed by
-- (recipient, doc_id) stays as history; new digests are logged in `delivery_log`.
-- `digest` rows now carry the subscriber name in `recipient` and the channel key in `channel`
-- (email:ADDRESS, chat:SCHEME://HOST#HASH, webhook:…); `transport` says how it went out.
ALTER TABLE digest ADD COLUMN transport VARCHAR;   -- outbox | smtp | apprise | webhook

CREATE TABLE delivery_log (
    subscriber VARCHAR NOT NULL,
    channel    VARCHAR NOT NULL,
    doc_id     BIGINT NOT NULL,
    digest_id  VARCHAR NOT NULL,
    topic      VARCHAR NOT NULL,
    status     VARCHAR NOT NULL,               -- pending | delivered
    PRIMARY KEY (subscriber, channel, doc_id)
);

-- What the foundation delivered to `[digest] recipients` counts as delivered to the same
-- address as a subscriber (named by its address), so upgrading sends nothing twice.
INSERT INTO delivery_log
SELECT recipient, 'email:' || lower(recipient), doc_id, digest_id, topic, status
FROM delivery WHERE status = 'delivered';
UPDATE digest SET transport = channel, channel = 'email:' || lower(recipient)
WHERE channel IN ('outbox', 'smtp');
