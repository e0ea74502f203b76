-- Email channel keys one per mailbox (flows/subscribers.py, `email_key`): a key logged with an
-- internationalised domain as written (`email:desk@пример.рф`) becomes the punycode one this
-- release builds (`email:desk@xn--e1afmkfd.xn--p1ai`), so its items and its window still count
-- for the channel however the address is spelt now. Likewise the name of a `[digest]
-- recipients` subscriber (its address; `[[subscribers]]` names are ASCII, never matched here).
-- migwatch_channel_key is the Python function that builds keys (warehouse/db.py registers it
-- for migrations). A row whose punycode twin exists already (the same item delivered under
-- both spellings) is dropped rather than duplicated. Only non-ASCII email keys are touched.
CREATE TEMP MACRO idn_key(k) AS
    k LIKE 'email:%' AND regexp_matches(k, '[^\x00-\x7F]')
    AND migwatch_channel_key(k) <> k;
-- a legacy subscriber's name: its address, the key without `email:`
CREATE TEMP MACRO idn_name(s) AS
    CASE WHEN idn_key('email:' || s)
         THEN regexp_replace(s, '@[^@]*$', '@' || split_part(migwatch_channel_key('email:' || s), '@', -1))
         ELSE s END;

INSERT INTO delivery_log
SELECT idn_name(subscriber), migwatch_channel_key(channel), doc_id, digest_id, topic, status
FROM delivery_log WHERE idn_key(channel) OR idn_name(subscriber) <> subscriber
ON CONFLICT DO NOTHING;
DELETE FROM delivery_log WHERE idn_key(channel) OR idn_name(subscriber) <> subscriber;

UPDATE digest SET recipient = idn_name(recipient), channel = migwatch_channel_key(channel)
WHERE idn_key(channel) OR idn_name(recipient) <> recipient;

INSERT INTO operator_channel
SELECT migwatch_channel_key(channel), first_seen_at FROM operator_channel WHERE idn_key(channel)
ON CONFLICT (channel) DO UPDATE SET first_seen_at = least(first_seen_at, excluded.first_seen_at);
DELETE FROM operator_channel WHERE idn_key(channel);

UPDATE operator_alert SET channel = migwatch_channel_key(channel) WHERE idn_key(channel);

INSERT INTO operator_alert_event
SELECT migwatch_channel_key(channel), incident_id, event, alert_id, status
FROM operator_alert_event WHERE idn_key(channel)
ON CONFLICT DO NOTHING;
DELETE FROM operator_alert_event WHERE idn_key(channel);

DROP MACRO idn_name;
DROP MACRO idn_key;
