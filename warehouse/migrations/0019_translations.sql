-- Translations: one story published in several languages (Asia-Plus, CABAR.asia, Ozodi and
-- Eurasianet declare each page's versions with <link rel="alternate" hreflang>) is one story,
-- not one per language (warehouse/translations.py).
--
-- doc.translation_of: the lead of the story an article belongs to by translation, when it is
-- not its own copy cluster's root: for an article that is the version in another language
-- of one stored before it (either page declaring the other), that one's story lead (its
-- copy root's, its own when it leads); for a near-copy of such a translation, the same
-- lead. NULL otherwise. A near-copy keeps duplicate_of (its text's original) and inherits
-- the story; a translation is never a copy (duplicate_of NULL, no similarity). Written once
-- with the article, never updated: a story's lead does not change as versions arrive.
-- Existing articles are NULL: no page kept its declarations, so there is nothing to link.
-- IF NOT EXISTS: applying it again (a ledger rolled back by hand) is harmless.
ALTER TABLE doc ADD COLUMN IF NOT EXISTS translation_of BIGINT;

-- What each stored page declared as its versions in other languages: (language tag as
-- declared, canonical URL of the version), its own URL and x-default left out. A version
-- stored later is recognised by its canonical URL (or a feed link's, url_alias) here.
CREATE TABLE IF NOT EXISTS doc_alternate (
    doc_id        BIGINT NOT NULL,
    lang          VARCHAR NOT NULL,     -- hreflang, lower-cased: en, ru, tg, en-gb...
    canonical_url VARCHAR NOT NULL,     -- flows/stages/dedup.py canonical_url of the href
    PRIMARY KEY (canonical_url, doc_id)
);
