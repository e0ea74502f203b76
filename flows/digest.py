"""The digest flow: for each recipient, what is new since their last digest, delivered once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from alerts.compose import build_digest, render_email
from alerts.mailer import SmtpSettings, send_smtp, smtp_from_env, write_outbox
from flows.settings import Settings, default_db_path, load_settings
from flows.stages.topics import load_rules
from warehouse import deliveries, store
from warehouse.db import opened, sql


@dataclass(frozen=True)
class DigestResult:
    recipient: str
    digest_id: str | None
    channel: str
    n_items: int
    location: str | None
    error: str | None = None


def _rows(con: object, recipient: str, since: datetime) -> list[dict]:
    cur = con.execute(sql("digest_candidates"),  # type: ignore[attr-defined]
                      {"recipient": recipient, "since": since})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def deliver_one(db: Path, settings: Settings, recipient: str, smtp: SmtpSettings | None,
                now: datetime | None = None) -> DigestResult:
    """Select, compose, claim, send, confirm (see warehouse/deliveries.py for the protocol)."""
    now = now or datetime.now(UTC)
    channel = "smtp" if smtp else "outbox"
    outbox = settings.digest.outbox
    topic_order = load_rules(settings.topics_path).keys()
    with opened(db) as con:
        deliveries.recover(con, recipient, outbox)
        rows = _rows(con, recipient, now - timedelta(days=settings.digest.window_days))
        labels = dict(con.execute("SELECT topic, label FROM topic").fetchall())
        outlets = {s.key: s.name for s in settings.sources}
        digest = build_digest(recipient, rows, labels, outlets, now,
                              settings.digest.max_items_per_topic, topic_order)
        if not digest.items:
            return DigestResult(recipient, None, channel, 0, None)
        digest_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        msg = render_email(digest, settings.digest.sender, digest_id)
        deliveries.claim(con, digest_id, recipient, channel,
                         [(i.article_id, s.topic) for s in digest.sections for i in s.items])
        try:
            if smtp:
                send_smtp(msg, smtp)
                location = smtp.describe()
            else:
                location = str(write_outbox(msg, outbox, digest_id))
        except Exception as exc:  # refused, unreachable, disk full: record, retry next run
            reason = f"{type(exc).__name__}: {exc}"
            deliveries.release(con, digest_id, reason)
            return DigestResult(recipient, digest_id, channel, 0, None, reason)
        deliveries.confirm(con, digest_id, location)
        return DigestResult(recipient, digest_id, channel, len(digest.items), location)


@task(cache_policy=NO_CACHE)
def deliver(db: Path, settings: Settings, recipient: str, smtp: SmtpSettings | None
            ) -> DigestResult:
    return deliver_one(db, settings, recipient, smtp)


@flow(name="migwatch-digest")
def digest_flow(config_path: str | None = None, db_path: str | None = None
                ) -> list[DigestResult]:
    logger = get_run_logger()
    settings = load_settings(config_path)
    db = Path(db_path) if db_path else default_db_path()
    smtp = smtp_from_env()
    with opened(db) as con:
        run_id = store.start_run(con, "digest")
    results = []
    for recipient in settings.digest.recipients:
        result = deliver(db, settings, recipient, smtp)
        results.append(result)
        if result.error:
            logger.warning("%s: not delivered: %s", recipient, result.error)
        else:
            logger.info("%s: %d items -> %s", recipient, result.n_items,
                        result.location or "nothing new")
    status = "ok" if not any(r.error for r in results) else "partial"
    with opened(db) as con:
        store.finish_run(con, run_id, status, {"digests": [r.__dict__ for r in results]})
    return results
