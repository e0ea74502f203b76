"""Outlet incidents -> the operator's alert: plain-text email, chat markdown, JSON payload.

Pure: no warehouse, no network. An alert lists, for one operator channel, the incidents that
opened (an outlet failing `failing_after` runs in a row, or gone quiet) and those that closed
(recovered, or removed from the sources file) since that channel was last told. Error messages
and outlet names are untrusted text: escaped in chat, flattened to one line everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from alerts.chat import DEFAULT_LIMIT, md_text
from alerts.compose import one_line


@dataclass(frozen=True)
class Incident:
    incident_id: int
    source: str
    kind: str                       # failing | quiet
    opened_at: datetime
    closed_at: datetime | None
    detail: Mapping[str, Any]       # the view's row when it opened
    closed_reason: str | None = None   # recovered | removed


@dataclass(frozen=True)
class OperatorAlert:
    alert_id: str
    created_at: datetime
    failing: tuple[Incident, ...]     # newly failing, still failing
    quiet: tuple[Incident, ...]       # newly quiet, still quiet
    closed: tuple[Incident, ...]      # recovered (or removed) since the channel was told
    names: Mapping[str, str]          # source key -> outlet name
    still_open: tuple[Incident, ...] = ()   # open, reported in an earlier alert

    @property
    def n_incidents(self) -> int:
        return len(self.failing) + len(self.quiet) + len(self.closed)


def build_alert(alert_id: str, created_at: datetime, events: list[tuple[Incident, str]],
                names: Mapping[str, str], open_now: list[Incident] | None = None
                ) -> OperatorAlert:
    """Group pending (incident, event) pairs: an incident whose close is pending is reported
    once, as closed, even when its opening was never delivered (the channel was down). The
    other incidents of `open_now` are listed as still open, for context."""
    closing = {i.incident_id for i, event in events if event == "closed"}
    seen: dict[int, Incident] = {}
    for incident, _event in events:
        seen.setdefault(incident.incident_id, incident)
    still = [i for i in seen.values() if i.incident_id not in closing]
    return OperatorAlert(
        alert_id, created_at,
        failing=tuple(i for i in still if i.kind == "failing"),
        quiet=tuple(i for i in still if i.kind == "quiet"),
        closed=tuple(i for i in seen.values() if i.incident_id in closing),
        names=names,
        still_open=tuple(i for i in open_now or () if i.incident_id not in seen))


def _when(value: str | datetime | None) -> str:
    if value is None:
        return "never"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _outlet(alert: OperatorAlert, i: Incident) -> str:
    return f"{one_line(alert.names.get(i.source, i.source))} ({i.source})"


def describe(i: Incident) -> str:
    """One line on what is (or was) wrong, from the row kept when the incident opened."""
    d = i.detail
    if i.kind == "failing":
        err = one_line(str(d.get("last_error") or ""))[:300] or "no error recorded"
        return (f"failed {d.get('consecutive_failures')} runs in a row (alert after "
                f"{d.get('failing_after')}); last success {_when(d.get('last_success_at'))}; "
                f"last error: {err}")
    gap = d.get("typical_gap_hours")
    return (f"nothing new for {float(d.get('quiet_hours') or 0) / 24:.1f} days, usually every "
            f"{gap} h; newest article {_when(d.get('last_published_at'))}")


def describe_close(i: Incident) -> str:
    what = f"reported {'failing' if i.kind == 'failing' else 'quiet'} at {_when(i.opened_at)}"
    if i.closed_reason == "removed":
        return f"no longer in the sources file ({what})"
    again = "runs ok again" if i.kind == "failing" else "publishes again"
    return f"{again} at {_when(i.closed_at)} ({what})"


def describe_open(i: Incident) -> str:
    return f"{'failing' if i.kind == 'failing' else 'gone quiet'}, reported at {_when(i.opened_at)}"


def subject(alert: OperatorAlert) -> str:
    parts = [f"{n} {label}" for n, label in ((len(alert.failing), "failing"),
                                             (len(alert.quiet), "gone quiet"),
                                             (len(alert.closed), "recovered")) if n]
    return "migwatch operator: " + ", ".join(parts)


def _sections(alert: OperatorAlert) -> list[tuple[str, list[tuple[Incident, str]]]]:
    after = alert.failing[0].detail.get("failing_after") if alert.failing else None
    return [(title, rows) for title, rows in (
        (f"Failing (failed in the last {after} runs or more)",
         [(i, describe(i)) for i in alert.failing]),
        ("Gone quiet (nothing new for more than 3 usual gaps)",
         [(i, describe(i)) for i in alert.quiet]),
        ("Recovered", [(i, describe_close(i)) for i in alert.closed]),
        ("Still open (reported before)", [(i, describe_open(i)) for i in alert.still_open]),
    ) if rows]


def render_text(alert: OperatorAlert) -> str:
    lines = [f"{subject(alert)} — {_when(alert.created_at)}"]
    for title, rows in _sections(alert):
        lines += ["", f"{title}:"]
        lines += [f"- {_outlet(alert, i)}: {text}" for i, text in rows]
    lines += ["", "Each incident is reported once when it starts and once when it ends; "
                  "`migwatch status` shows the current state.",
              f"Alert {alert.alert_id}, sent to the [operator] channels only."]
    return "\n".join(lines) + "\n"


def render_email(alert: OperatorAlert, sender: str, to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject(alert)
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(alert.created_at)
    msg["Message-ID"] = make_msgid(idstring=alert.alert_id, domain="migwatch.local")
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Migwatch-Alert"] = alert.alert_id
    msg.set_content(render_text(alert))
    return msg


def render_markdown(alert: OperatorAlert, limit: int = DEFAULT_LIMIT) -> str:
    """One chat message; when the platform's limit is reached, the rest is counted, not cut
    mid-line."""
    lines = [f"**{md_text(subject(alert))}**"]
    left = alert.n_incidents + len(alert.still_open)
    for title, rows in _sections(alert):
        lines.append(f"\n**{md_text(title)}**")
        for i, text in rows:
            line = f"• {md_text(_outlet(alert, i))}: {md_text(text)}"[:600]
            if sum(len(x) + 1 for x in lines) + len(line) > limit - 80:
                lines.append(f"_{md_text(f'… and {left} more: see migwatch status')}_")
                return "\n".join(lines)
            lines.append(line)
            left -= 1
    return "\n".join(lines)


def payload(alert: OperatorAlert) -> dict[str, Any]:
    """What a `webhook+http(s)://` operator channel receives (plain text; the receiver
    escapes)."""

    def item(i: Incident, event: str) -> dict[str, Any]:
        return {"event": event, "kind": i.kind, "source": i.source,
                "name": alert.names.get(i.source, i.source), "incident_id": i.incident_id,
                "opened_at": i.opened_at.isoformat(),
                "closed_at": i.closed_at.isoformat() if i.closed_at else None,
                "closed_reason": i.closed_reason, "detail": dict(i.detail),
                "text": describe(i) if event == "opened" else describe_close(i)}

    return {"type": "migwatch.operator_alert", "alert_id": alert.alert_id,
            "created_at": alert.created_at.isoformat(), "subject": subject(alert),
            "incidents": [item(i, "opened") for i in (*alert.failing, *alert.quiet)]
            + [item(i, "closed") for i in alert.closed],
            "still_open": [{"kind": i.kind, "source": i.source,
                            "name": alert.names.get(i.source, i.source),
                            "incident_id": i.incident_id, "opened_at": i.opened_at.isoformat()}
                           for i in alert.still_open]}


def parse_detail(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
