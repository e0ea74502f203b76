-- The terms of each topic rule, beside its RE2 pattern: ingest and retag find the rules'
-- phrases in Python (flows/stages/topic_match.py) from the terms; the pattern stays for
-- analysts (what the rule matches, in RE2 over the token text). Filled by the next run or
-- `migwatch retag`, which reload the rules.
ALTER TABLE topic_rule ADD COLUMN terms VARCHAR[];
