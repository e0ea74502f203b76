"""Operator alerts: which outlets started failing or went quiet, and which recovered.

After every ingest run (the `after_ingest` task, called once the run is recorded) and on
`migwatch status --alert`, `run_operator_alerts` brings the incidents up to date
(warehouse/incidents.py) and sends each `[operator]` channel one message with what it has not
been told yet. Channels use the subscribers' syntax and transports (email by SMTP or to the
outbox folder, chat through apprise, JSON webhook), but nothing here touches the subscriber
digests or their delivery log, and no subscriber ever receives an operator alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from alerts import chat
from alerts.incident import OperatorAlert, build_alert, payload, render_email
from alerts.incident import render_markdown as incident_markdown
from alerts.mailer import SmtpSettings, send_smtp, smtp_from_env, write_outbox
from flows.settings import Settings
from flows.subscribers import Channel
from warehouse import deliveries, feed_state, incidents, search, store
from warehouse.db import lock_wait, opened


@dataclass(frozen=True)
class AlertResult:
    channel: str                 # the channel key
    alert_id: str | None         # None: nothing new for this channel
    transport: str               # outbox | smtp | apprise | webhook ("" when nothing sent)
    n_incidents: int
    location: str | None
    error: str | None = None     # not delivered: recorded, sent again next pass


@dataclass(frozen=True)
class OperatorReport:
    opened: int                  # incidents opened by this pass
    closed: int
    results: tuple[AlertResult, ...]
    settled: tuple[str, ...] = ()   # alerts left pending by an interrupted pass

    def lines(self) -> list[str]:
        out = [f"operator alerts: {self.opened} incidents opened, {self.closed} closed"]
        out += [f"  {s}" for s in self.settled]
        for r in self.results:
            if r.error:
                out.append(f"  {r.channel}: NOT delivered ({r.error}); sent again next time")
            elif r.alert_id:
                out.append(f"  {r.channel}: {r.n_incidents} incidents -> {r.location}")
            else:
                out.append(f"  {r.channel}: nothing new")
        if not self.results:
            out.append("  no [operator] channel configured")
        return out


def _transport(ch: Channel, smtp: SmtpSettings | None) -> str:
    return {"email": "smtp" if smtp else "outbox", "chat": "apprise",
            "webhook": "webhook"}[ch.kind]


def _deliver(settings: Settings, ch: Channel, alert: OperatorAlert, smtp: SmtpSettings | None,
             env: Mapping[str, str] | None) -> str:
    """Send one claimed alert (no warehouse connection is open); return where it went.
    Raises when the channel did not take it."""
    target = ch.resolved(env)
    if ch.kind == "email":
        msg = render_email(alert, settings.digest.sender, target)
        if smtp:
            send_smtp(msg, smtp)
            return smtp.describe()
        return str(write_outbox(msg, settings.digest.outbox, alert.alert_id))
    if ch.kind == "chat":
        chat.send_apprise(target, [incident_markdown(alert, chat.limit_for(ch.scheme))])
        return chat.redact(target)
    chat.send_webhook(target, payload(alert), timeout=settings.digest.webhook_timeout)
    return chat.redact(target.split("+", 1)[1])


def run_operator_alerts(db: Path, settings: Settings, smtp: SmtpSettings | None,
                        env: Mapping[str, str] | None = None, now: datetime | None = None
                        ) -> OperatorReport:
    """Update the incidents from the health views, then tell each [operator] channel what it
    has not been told. Incidents are tracked even with no channel configured, so a channel
    added later is told what is open then (and not the history).

    As digests (flows/digest.py), the warehouse is held only for short steps — detect and
    claim (one connection), then confirm or release each channel (one each) — never while an
    alert is sent, and one pass sends at a time (`<warehouse>.alert-lock`): another pass's
    recovery would otherwise release this one's claims in flight."""
    now = now or datetime.now(UTC)
    names = {s.key: s.name for s in settings.sources}
    planned: list[tuple[Channel, OperatorAlert, str]] = []
    results: list[AlertResult] = []
    with deliveries.run_lock(db, lock_wait(), "alert"):
        with opened(db) as con:
            feed_state.set_health_settings(con, settings.fetch.failing_after, list(names))
            settled = incidents.recover(con, settings.digest.outbox)
            first_seen = incidents.note_channels(con, [c.key for c in settings.operator], now)
            n_opened, n_closed = incidents.detect(con, set(names), now)
            for ch in settings.operator:
                events = incidents.pending(con, ch.key, first_seen[ch.key])
                if not events:
                    results.append(AlertResult(ch.key, None, "", 0, None))
                    continue
                alert_id = f"operator-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
                alert = build_alert(alert_id, now, events, names, incidents.open_incidents(con))
                transport = _transport(ch, smtp)
                incidents.claim(con, alert_id, ch.key, transport, events, alert.created_at)
                planned.append((ch, alert, transport))
        for ch, alert, transport in planned:
            try:
                location = _deliver(settings, ch, alert, smtp, env)
            except Exception as exc:  # refused, unreachable, secret missing: recorded, retried
                reason = f"{type(exc).__name__}: {exc}"
                with opened(db, migrate_schema=False) as con:
                    incidents.release(con, alert.alert_id, reason)
                results.append(AlertResult(ch.key, alert.alert_id, transport, 0, None, reason))
                continue
            with opened(db, migrate_schema=False) as con:
                incidents.confirm(con, alert.alert_id, location)
            results.append(AlertResult(ch.key, alert.alert_id, transport, alert.n_incidents,
                                       location))
    order = {c.key: k for k, c in enumerate(settings.operator)}
    results.sort(key=lambda r: order.get(r.channel, 0))
    return OperatorReport(n_opened, n_closed, tuple(results), tuple(settled))


def after_ingest_run(db: Path, settings: Settings) -> list[str]:
    """Housekeeping once an ingest run is recorded: prune raw HTML past its age, bring the
    phrase-search index up to date if there is one, alert the operator. Never raises: a
    failure here is reported and retried after the next run, and never changes the outcome
    of the ingest run itself."""
    notes: list[str] = []
    if settings.storage.raw_html_max_age_days:
        try:
            with opened(db) as con:
                n = store.prune_raw_html(con, settings.storage.raw_html_max_age_days)
            notes.append(f"raw HTML: {n} pages older than "
                         f"{settings.storage.raw_html_max_age_days} days deleted")
        except Exception as exc:
            notes.append(f"WARNING raw HTML not pruned: {type(exc).__name__}: {exc}")
    if search.index_path(db).exists():   # someone searches: keep their index current
        try:
            # Not a rebuild: at a million articles that is ~20 minutes, which would hold up
            # the next scheduled run; the next search does it, and says so.
            done = search.catch_up(db, rebuild=False)
            notes.append(f"search index: {done.read} articles added" if not done.behind else
                         f"WARNING search index not brought up to date: this process may "
                         f"not write {search.index_path(db)} ({done.behind} articles behind)")
        except search.IndexOutdated as exc:
            notes.append(f"search index: {exc}")
        except Exception as exc:
            notes.append(f"WARNING search index not brought up to date: "
                         f"{type(exc).__name__}: {exc} (the next search or run does it)")
    try:
        report = run_operator_alerts(db, settings, smtp_from_env())
    except Exception as exc:
        notes.append(f"WARNING operator alerts not sent: {type(exc).__name__}: {exc} "
                     "(tried again after the next run)")
        return notes
    notes += report.lines()
    notes += [f"WARNING {r.channel}: operator alert not delivered: {r.error}"
              for r in report.results if r.error]
    return notes


@task(cache_policy=NO_CACHE)
def after_ingest(db: Path, settings: Settings) -> list[str]:
    logger = get_run_logger()
    notes = after_ingest_run(db, settings)
    for note in notes:
        if note.startswith("WARNING "):
            logger.warning(note.removeprefix("WARNING "))
        else:
            logger.info(note)
    return notes

