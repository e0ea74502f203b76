"""The digest flow: for each subscriber channel that is due, what is new for it, delivered once.

`run_digests` does the work without Prefect (the CLI's --dry-run and the benchmark call it
directly); `digest_flow` is the thin Prefect layer. Per channel: select (alerts/select.py),
compose (alerts/compose.py, alerts/chat.py), claim, send, confirm or release
(warehouse/deliveries.py). A failing channel is released and retried next run; the others
are unaffected. A channel's window starts at its last delivered digest (alerts/select.py),
so what a released digest held is selected again.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from alerts import chat
from alerts.compose import Digest, build_digest, render_email, render_html
from alerts.mailer import SmtpSettings, send_smtp, smtp_from_env, write_outbox
from alerts.select import Candidates, chart_counts, is_due, select_rows, window_start
from flows.settings import ConfigError, Settings, default_db_path, load_settings
from flows.stages.topics import load_rules
from flows.subscribers import Channel, Subscriber
from warehouse import deliveries, store
from warehouse.db import opened, sql


@dataclass(frozen=True)
class DigestResult:
    subscriber: str
    channel: str                 # the channel key in the delivery log
    digest_id: str | None
    transport: str               # outbox | smtp | apprise | webhook | preview
    n_items: int
    location: str | None
    error: str | None = None
    not_due: bool = False

    @property
    def recipient(self) -> str:  # the foundation's name, kept for callers
        return self.subscriber


def _query(con: duckdb.DuckDBPyConnection, name: str, params: Mapping) -> list[dict]:
    cur = con.execute(sql(name), dict(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


class _Charts:
    """The header chart's counts for each distinct set of filters, read once per run and
    counted only for the subscribers that get a digest."""

    def __init__(self, con: duckdb.DuckDBPyConnection, today: date) -> None:
        self.rows = _query(con, "digest_daily", {"today": today})
        self.today = today
        self.done: dict[tuple, dict[str, tuple[int, ...]]] = {}

    def for_subscriber(self, sub: Subscriber) -> dict[str, tuple[int, ...]]:
        key = (frozenset(sub.languages), frozenset(sub.outlets), sub.min_score)
        if key not in self.done:
            self.done[key] = chart_counts(self.rows, sub, self.today)
        return self.done[key]


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", value)[:60]


def _send(con: duckdb.DuckDBPyConnection, settings: Settings, sub: Subscriber, ch: Channel,
          digest: Digest, digest_id: str, smtp: SmtpSettings | None,
          env: Mapping[str, str] | None) -> DigestResult:
    """Render, claim, send, confirm (or release): see warehouse/deliveries.py."""
    transport = {"email": "smtp" if smtp else "outbox", "chat": "apprise",
                 "webhook": "webhook"}[ch.kind]
    items = [(i.article_id, s.topic) for s in digest.sections for i in s.items]

    def result(n: int, location: str | None, error: str | None = None) -> DigestResult:
        return DigestResult(sub.name, ch.key, digest_id, transport, n, location, error)

    try:
        target = ch.resolved(env)
    except LookupError as exc:
        return result(0, None, str(exc))
    msg = render_email(digest, settings.digest.sender, digest_id) if ch.kind == "email" else None
    deliveries.claim(con, digest_id, sub.name, ch.key, transport, items)
    try:
        if msg is not None and smtp:
            send_smtp(msg, smtp)
            location = smtp.describe()
        elif msg is not None:
            location = str(write_outbox(msg, settings.digest.outbox, digest_id))
        elif ch.kind == "chat":
            chat.send_apprise(target, chat.render_markdown(digest, chat.limit_for(ch.scheme)))
            location = chat.redact(target)
        else:
            chat.send_webhook(target, chat.payload(digest, digest_id))
            location = chat.redact(target.split("+", 1)[1])
    except Exception as exc:  # refused, unreachable, disk full: release, retry next run
        reason = f"{type(exc).__name__}: {exc}"
        deliveries.release(con, digest_id, reason)
        return result(0, None, reason)
    deliveries.confirm(con, digest_id, location)
    return result(len(items), location)


def _preview(out: Path, settings: Settings, sub: Subscriber, ch: Channel, n: int,
             digest: Digest, digest_id: str) -> str:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{_slug(sub.name)}-{n}-{ch.kind}"
    if ch.kind == "email":
        msg = render_email(digest, settings.digest.sender, digest_id)
        (out / f"{stem}.eml").write_bytes(msg.as_bytes())
        html = render_html(digest, digest_id, settings.digest.sender)
        (out / f"{stem}.html").write_text(html, "utf-8")
        return str(out / f"{stem}.html")
    if ch.kind == "webhook":
        body = json.dumps(chat.payload(digest, digest_id), ensure_ascii=False, indent=2)
        (out / f"{stem}.json").write_text(body, "utf-8")
        return str(out / f"{stem}.json")
    parts = chat.render_markdown(digest, chat.limit_for(ch.scheme))
    (out / f"{stem}.md").write_text("\n\n---\n\n".join(parts) + "\n", "utf-8")
    return str(out / f"{stem}.md")


def run_digests(db: Path, settings: Settings, smtp: SmtpSettings | None,
                now: datetime | None = None, only: str | None = None,
                preview: Path | None = None, env: Mapping[str, str] | None = None
                ) -> list[DigestResult]:
    """Every due subscriber channel; with `preview`, write files there instead of sending or
    recording (and ignore the cadence: a preview shows what the next digest would hold)."""
    now = now or datetime.now(UTC)
    topic_order = load_rules(settings.topics_path).keys()
    subs = [s for s in settings.subscribers if only is None or s.name == only]
    if only is not None and not subs:
        raise ConfigError(f"{settings.path}: no subscriber named {only!r}")
    for s in subs:
        unknown = set(s.topics) - set(topic_order)
        if unknown:
            raise ConfigError(f"{settings.path}: subscriber {s.name}: unknown topics "
                              f"{', '.join(sorted(unknown))} (see {settings.topics_path})")
    outlets = {s.key: s.name for s in settings.sources}
    earliest = now - timedelta(days=settings.digest.window_days)
    results: list[DigestResult] = []
    with opened(db) as con:
        if preview is None:
            deliveries.recover(con, settings.digest.outbox)
        rows = Candidates(_query(con, "digest_candidates", {"since": earliest}))
        delivered: dict[tuple[str, str], set[int]] = {}
        for row in _query(con, "digest_delivered", {"ids": sorted(rows.ids)}):
            delivered.setdefault((row["subscriber"], row["channel"]), set()).add(row["doc_id"])
        last_sent = {(r["subscriber"], r["channel"]): r["last_sent"]
                     for r in _query(con, "digest_last_sent", {})}
        labels = dict(con.execute("SELECT topic, label FROM topic").fetchall())
        charts = _Charts(con, now.date())
        for sub in subs:
            for n, ch in enumerate(sub.channels, 1):
                last = last_sent.get((sub.name, ch.key))
                if preview is None and not is_due(sub, last, now):
                    results.append(DigestResult(sub.name, ch.key, None, "", 0, None,
                                                not_due=True))
                    continue
                chosen = select_rows(rows, sub, delivered.get((sub.name, ch.key), set()),
                                     window_start(last, now, settings.digest.window_days))
                if not chosen:
                    results.append(DigestResult(sub.name, ch.key, None, "", 0, None))
                    continue
                shown = ch.target if ch.kind == "email" else chat.redact(ch.target)
                digest = build_digest(shown, chosen, labels, outlets, now,
                                      settings.digest.max_items_per_topic, topic_order,
                                      sub.name, sub.cadence, charts.for_subscriber(sub))
                digest_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
                if preview is not None:
                    where = _preview(preview, settings, sub, ch, n, digest, digest_id)
                    results.append(DigestResult(sub.name, ch.key, None, "preview",
                                                len(digest.items), where))
                else:
                    results.append(_send(con, settings, sub, ch, digest, digest_id, smtp, env))
    return results


@task(cache_policy=NO_CACHE)
def deliver_all(db: Path, settings: Settings, smtp: SmtpSettings | None) -> list[DigestResult]:
    return run_digests(db, settings, smtp)


@flow(name="migwatch-digest")
def digest_flow(config_path: str | None = None, db_path: str | None = None
                ) -> list[DigestResult]:
    logger = get_run_logger()
    settings = load_settings(config_path)
    db = Path(db_path) if db_path else default_db_path()
    smtp = smtp_from_env()
    with opened(db) as con:
        run_id = store.start_run(con, "digest")
    with store.failure_recorded(db, run_id):
        results = deliver_all(db, settings, smtp)
    for r in results:
        if r.error:
            logger.warning("%s %s: not delivered: %s", r.subscriber, r.channel, r.error)
        elif r.n_items:
            logger.info("%s %s: %d items -> %s", r.subscriber, r.channel, r.n_items, r.location)
    status = "ok" if not any(r.error for r in results) else "partial"
    with opened(db) as con:
        store.finish_run(con, run_id, status, {"digests": [r.__dict__ for r in results]})
    return results
