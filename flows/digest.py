"""The digest flow: for each subscriber channel that is due, what is new for it, delivered once.

`run_digests` does the work without Prefect (the CLI's --dry-run and the benchmark call it
directly); `digest_flow` is the thin Prefect layer. Per channel: select (alerts/select.py),
compose (alerts/compose.py, alerts/chat.py), claim, send, confirm or release
(warehouse/deliveries.py). A failing channel is released and retried next run; the others
are unaffected. A channel's window starts at its last delivered digest, however long ago
(alerts/select.py), so what a released digest held is selected again; the candidates are
read from the earliest window of the channels the run composes.

The warehouse's read-write connection (DuckDB's exclusive file lock) is held only for short
database steps, never across a network send, so analysts' queries and ingest are not blocked
by a slow SMTP server or webhook:
  1. read (one connection): settle what an interrupted run left pending
     (deliveries.recover), read the last digests, the candidates, delivery log, chart
     counts; select each due channel's rows with no connection open; read the texts of
     those (a second short connection); compose every due channel's digest with no
     connection open; claim them all (a third short connection, one transaction);
  2. send each channel in turn, no connection open;
  3. record each outcome (confirm or release) in a short connection of its own right after
     its send; outbox files, which prove themselves after a crash, are recorded together.
The whole sending run holds `<warehouse>.digest-lock` (deliveries.run_lock): a second run
waits for this one instead of releasing its in-flight claims. warehouse/deliveries.py says
why nothing is lost or sent twice, and why articles stored meanwhile are in the next digest.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

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
from warehouse.db import lock_wait, opened, sql


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

    def __init__(self, rows: list[dict], today: date) -> None:
        self.rows = rows
        self.today = today
        self.done: dict[tuple, dict[str, tuple[int, ...]]] = {}

    def for_subscriber(self, sub: Subscriber) -> dict[str, tuple[int, ...]]:
        key = (frozenset(sub.languages), frozenset(sub.outlets), sub.min_score)
        if key not in self.done:
            self.done[key] = chart_counts(self.rows, sub, self.today)
        return self.done[key]


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", value)[:60]


@dataclass(frozen=True)
class _Snapshot:
    """What step 1 reads from the warehouse; selecting and composing need nothing else (but
    the texts of what is selected, `_read_texts`)."""

    read_at: datetime            # taken under the lock, before the reads
    found: list[dict]            # the candidate rows, as read
    rows: Candidates             # the same, indexed
    delivered: dict[tuple[str, str], set[int]]
    since: dict[tuple[str, str], datetime]   # each channel to compose: where its window starts
    labels: dict[str, str]
    charts: _Charts


def _read(con: duckdb.DuckDBPyConnection, settings: Settings, subs: list[Subscriber],
          now: datetime, preview: bool) -> _Snapshot:
    """Which channels to compose (those due; every one in a preview) and where each one's
    window starts (alerts/select.py); the candidates from the earliest of those starts, and
    the delivery log of those channels within their windows."""
    read_at = datetime.now(UTC)
    tried = {(r["subscriber"], r["channel"]): r for r in _query(con, "digest_last_sent", {})}
    since: dict[tuple[str, str], datetime] = {}
    for sub in subs:
        for ch in sub.channels:
            key = (sub.name, ch.key)
            seen = tried.get(key)
            last = seen["last_sent"] if seen else None
            first = seen["first_tried"] if seen else None
            if preview or is_due(sub, last, now):
                since[key] = window_start(last, now, settings.digest.window_days, first)
    found = _query(con, "digest_candidates", {"since": min(since.values())}) if since else []
    rows = Candidates(found)
    delivered: dict[tuple[str, str], set[int]] = {}
    for row in _query(con, "digest_delivered", {
            "ids": list(rows.last_seen), "seen": list(rows.last_seen.values()),
            "subscribers": [k[0] for k in since], "channels": [k[1] for k in since],
            "since": list(since.values())}) if found else ():
        delivered.setdefault((row["subscriber"], row["channel"]), set()).add(row["doc_id"])
    labels = dict(con.execute("SELECT topic, label FROM topic").fetchall())
    tz = settings.schedule.timezone   # the chart's days are the dates' days (alerts/compose.py)
    today = now.astimezone(ZoneInfo(tz)).date()
    charts = _Charts(_query(con, "digest_daily", {"today": today, "tz": tz}), today)
    return _Snapshot(read_at, found, rows, delivered, since, labels, charts)


def _select(snap: _Snapshot, subs: list[Subscriber]) -> dict[tuple[str, str], list[Mapping]]:
    """Each channel to compose: its rows (alerts/select.py). No warehouse: with many
    subscribers this is the long part of step 1."""
    chosen: dict[tuple[str, str], list[Mapping]] = {}
    for sub in subs:
        for ch in sub.channels:
            key = (sub.name, ch.key)
            if key in snap.since:
                chosen[key] = select_rows(snap.rows, sub, snap.delivered.get(key, set()),
                                          snap.since[key])
    return chosen


def _read_texts(con: duckdb.DuckDBPyConnection, snap: _Snapshot,
                chosen: dict[tuple[str, str], list[Mapping]]) -> None:
    """The texts of the articles selected, and only theirs, into their rows (shared by every
    channel that selected them): a window that starts months back costs months of candidate
    rows but only the texts of what some channel selects (none, for a narrow subscriber with
    nothing new all that time). Nothing rewrites a stored text, so this later connection
    reads what the candidates' would have."""
    ids = sorted({row["first_id"] for picked in chosen.values() for row in picked})
    if not ids:
        return
    texts = dict(con.execute(sql("digest_texts"), {"ids": ids}).fetchall())
    # the selected rows are the candidate rows themselves (shared by the channels that chose
    # them) or, for a story shown in another language, a row of its own (in_version): dicts
    for picked in chosen.values():
        for row in picked:
            if row["first_id"] in texts:
                cast(MutableMapping, row)["text"] = texts[row["first_id"]]


@dataclass(frozen=True)
class _Planned:
    """A channel's digest, composed and claimed in step 1, sent in step 2."""

    sub: Subscriber
    ch: Channel
    n: int                       # the channel's place in the subscriber's list, from 1
    digest: Digest
    claim: deliveries.Claim
    target: str                  # the channel with ${NAME} expanded ("" in a preview)


def _transport(ch: Channel, smtp: SmtpSettings | None) -> str:
    return {"email": "smtp" if smtp else "outbox", "chat": "apprise",
            "webhook": "webhook"}[ch.kind]


def _deliver(settings: Settings, p: _Planned, smtp: SmtpSettings | None) -> str:
    """Render and send one claimed digest (no warehouse connection is open); return where it
    went. Raises when the channel did not accept it."""
    digest_id, ch = p.claim.digest_id, p.ch
    if ch.kind == "email":
        msg = render_email(p.digest, settings.digest.sender, digest_id)
        if smtp:
            send_smtp(msg, smtp)
            return smtp.describe()
        return str(write_outbox(msg, settings.digest.outbox, digest_id))
    if ch.kind == "chat":
        chat.send_apprise(p.target, chat.render_markdown(p.digest, chat.limit_for(ch.scheme)))
        return chat.redact(p.target)
    key = _idempotency_key(p.sub, ch, p.digest)
    chat.send_webhook(p.target, chat.payload(p.digest, digest_id, key),
                      timeout=settings.digest.webhook_timeout,
                      idempotency_key=key)
    return chat.redact(p.target.split("+", 1)[1])


def _idempotency_key(sub: Subscriber, ch: Channel, digest: Digest) -> str:
    return chat.idempotency_key(sub.name, ch.key, (i.article_id for i in digest.items))


def _send_all(db: Path, settings: Settings, planned: list[_Planned | DigestResult],
              smtp: SmtpSettings | None) -> list[DigestResult]:
    """Steps 2 and 3: send each claimed digest with no connection open, then record the
    outcome (confirm, or release) in a short connection of its own. A digest written to the
    outbox is recorded with the next one sent over the network, or at the end: the file is
    its proof (a crash before the record confirms it next run, `deliveries.recover`), and
    reopening the warehouse for each file would double the time of an outbox run."""
    results: list[DigestResult] = []
    unrecorded: list[tuple[str, str | None, str | None]] = []   # digest_id, location, error

    def record() -> None:
        with opened(db, migrate_schema=False) as con:
            for digest_id, location, error in unrecorded:
                if error is None:
                    deliveries.confirm(con, digest_id, location or "")
                else:
                    deliveries.release(con, digest_id, error)
        unrecorded.clear()

    for p in planned:
        if isinstance(p, DigestResult):
            results.append(p)
            continue
        c = p.claim
        location: str | None = None
        error: str | None = None
        try:
            location = _deliver(settings, p, smtp)
        except Exception as exc:  # refused, unreachable, disk full: release, retry next run
            error = f"{type(exc).__name__}: {exc}"
        unrecorded.append((c.digest_id, location, error))
        if c.transport != "outbox":
            record()              # at once: the one possible re-send is this short window
        results.append(DigestResult(c.subscriber, c.channel, c.digest_id, c.transport,
                                    0 if error else len(c.items), location, error))
    if unrecorded:
        record()
    return results


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
        body = json.dumps(chat.payload(digest, digest_id, _idempotency_key(sub, ch, digest)),
                          ensure_ascii=False, indent=2)
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
    if preview is not None:
        with opened(db) as con:
            snap = _read(con, settings, subs, now, preview=True)
        chosen = _select(snap, subs)
        if any(chosen.values()):
            with opened(db, migrate_schema=False) as con:
                _read_texts(con, snap, chosen)
        planned = _compose(snap, chosen, settings, subs, topic_order, now, None, env,
                           preview=True)
        return [p if isinstance(p, DigestResult) else
                DigestResult(p.sub.name, p.ch.key, None, "preview", len(p.digest.items),
                             _preview(preview, settings, p.sub, p.ch, p.n, p.digest,
                                      p.claim.digest_id))
                for p in planned]
    with deliveries.run_lock(db, lock_wait()):
        with opened(db) as con:                                   # step 1: read
            deliveries.recover(con, settings.digest.outbox)
            snap = _read(con, settings, subs, now, preview=False)
        chosen = _select(snap, subs)
        if any(chosen.values()):                                  # step 1: texts
            with opened(db, migrate_schema=False) as con:
                _read_texts(con, snap, chosen)
        planned = _compose(snap, chosen, settings, subs, topic_order, now, smtp, env,
                           preview=False)
        claims = [p.claim for p in planned if isinstance(p, _Planned)]
        if claims:                                                # step 1: claim
            with opened(db, migrate_schema=False) as con:
                deliveries.claim_all(con, claims, snap.read_at)
        return _send_all(db, settings, planned, smtp)            # steps 2 and 3


def _compose(snap: _Snapshot, chosen_rows: dict[tuple[str, str], list[Mapping]],
             settings: Settings, subs: list[Subscriber], topic_order: Iterable[str],
             now: datetime, smtp: SmtpSettings | None, env: Mapping[str, str] | None,
             preview: bool) -> list[_Planned | DigestResult]:
    """Per channel, its digest to claim and send, or why nothing. No warehouse, no network."""
    outlets = {s.key: s.name for s in settings.sources}
    out: list[_Planned | DigestResult] = []
    for sub in subs:
        for n, ch in enumerate(sub.channels, 1):
            chosen = chosen_rows.get((sub.name, ch.key))
            if chosen is None:                 # not due (a preview composes every channel)
                out.append(DigestResult(sub.name, ch.key, None, "", 0, None, not_due=True))
                continue
            if not chosen:
                out.append(DigestResult(sub.name, ch.key, None, "", 0, None))
                continue
            shown = ch.target if ch.kind == "email" else chat.redact(ch.target)
            digest = build_digest(shown, chosen, snap.labels, outlets, now,
                                  settings.digest.max_items_per_topic, topic_order,
                                  sub.name, sub.cadence, snap.charts.for_subscriber(sub),
                                  tz=settings.schedule.timezone,
                                  chart_tz=settings.schedule.timezone)
            digest_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
            transport = _transport(ch, smtp)
            items = tuple((i.article_id, s.topic) for s in digest.sections for i in s.items)
            claim = deliveries.Claim(digest_id, sub.name, ch.key, transport, items)
            target = ""
            if not preview:
                try:
                    target = ch.resolved(env)
                except LookupError as exc:     # a missing ${NAME}: this channel only
                    out.append(DigestResult(sub.name, ch.key, digest_id, transport, 0, None,
                                            str(exc)))
                    continue
            out.append(_Planned(sub, ch, n, digest, claim, target))
    return out


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
