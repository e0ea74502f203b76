"""A JSON webhook slower than the timeout: the digest is released and sent again next run, and
the receiver can tell it is the same one (the `Idempotency-Key` header and the payload's
`idempotency_key` are the same for the same items; each item's `id` is stable), while a digest
with other items has another key. The timeout is `[digest] webhook_timeout`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts import chat
from flows.digest import run_digests
from tests.digest_helpers import ChatSink, fill, filled_settings


def _ids(post: dict) -> list[int]:
    return sorted(i["id"] for t in post["topics"] for i in t["items"])


def test_a_slow_webhook_gets_the_same_idempotency_key_for_the_same_items(
        tmp_path: Path, db_path: Path) -> None:
    with ChatSink() as sink:
        settings = filled_settings(tmp_path, db_path, f"""
[[subscribers]]
name = "desk"
chat = ["webhook+http://127.0.0.1:{sink.port}/hook"]
""")
        settings = replace(settings, digest=replace(settings.digest, webhook_timeout=0.5))
        sink.delay = {"/hook": 2.0}          # answers after the (0.5 s) timeout
        [late] = run_digests(db_path, settings, None, only="desk")
        assert late.n_items == 0 and late.error and "ReadTimeout" in late.error
        assert len(sink.posts) == 1          # ... but the receiver had it
        sink.delay = {}
        [sent] = run_digests(db_path, settings, None, only="desk")
        assert sent.n_items == 2 and sent.error is None
        (_, first), (_, second) = sink.posts
        assert first["digest_id"] != second["digest_id"]          # two attempts ...
        assert _ids(first) == _ids(second)                        # ... of the same items
        key = first["idempotency_key"]
        assert key.startswith("migwatch-") and second["idempotency_key"] == key
        assert [h["Idempotency-Key"] for h in sink.headers] == [key, key]
        assert "127.0.0.1" not in key and "hook" not in key

        # Other items, another key.
        [new] = fill(db_path, settings, [("ozodi", "https://ozodi.org/a/50", "Another entry ban",
                                        "Uzbekistan lifted an entry ban on Tajik traders "
                                        "at the Oybek crossing, officials said. " * 4)])
        later = datetime.now(UTC) + timedelta(days=1)
        [third] = run_digests(db_path, settings, None, now=later, only="desk")
        assert third.n_items == 1
        _, post = sink.posts[-1]
        assert post["idempotency_key"] != key and sink.headers[-1]["Idempotency-Key"] == (
            post["idempotency_key"])
        assert _ids(post) == [new]


def test_the_key_depends_on_subscriber_channel_and_items_only() -> None:
    key = chat.idempotency_key("desk", "webhook:http://h#abc", [3, 1, 2])
    assert key == chat.idempotency_key("desk", "webhook:http://h#abc", [2, 3, 1, 1])
    assert key != chat.idempotency_key("desk", "webhook:http://h#abc", [1, 2])
    assert key != chat.idempotency_key("desk2", "webhook:http://h#abc", [1, 2, 3])
    assert key != chat.idempotency_key("desk", "webhook:http://h#abd", [1, 2, 3])
