"""Telling planners a new investor inquiry arrived: an e-mail when SMTP settings are given.

The mail is sent after the inquiry is committed, on a daemon thread: an investor's answer
never waits on (or fails with) a mail server, and a mail is never sent for an inquiry that
was rolled back. Failures are logged, not raised. The mail carries the inquiry's number and
parcels but not the investor's name or contact (those stay in the inbox, behind sign-in:
mail crosses servers we do not control).
"""

from __future__ import annotations

import logging
import smtplib
import threading
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from parkgis.settings import Settings

log = logging.getLogger(__name__)


def smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.smtp_from and settings.smtp_to)


def recipients(settings: Settings) -> list[str]:
    return [a.strip() for a in (settings.smtp_to or "").split(",") if a.strip()]


def inquiry_message(
    settings: Settings, inquiry_id: int, parcels: list[str], base_url: str | None = None
) -> EmailMessage:
    """The notice for inquiry ``inquiry_id`` (Chinese first, then English)."""
    msg = EmailMessage()
    msg["Subject"] = f"新的投资咨询 #{inquiry_id} / New investor inquiry #{inquiry_id}"
    msg["From"] = settings.smtp_from or ""
    msg["To"] = ", ".join(recipients(settings))
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="parkgis.local")
    where = "、".join(parcels) if parcels else "未指定地块"
    where_en = ", ".join(parcels) if parcels else "no parcel named"
    inbox = f"{base_url.rstrip('/')}/planner" if base_url else "/planner"
    msg.set_content(
        f"收到新的投资咨询（编号 {inquiry_id}），涉及：{where}。\n"
        f"请登录规划工作台查看并回复：{inbox}\n\n"
        f"A new investor inquiry (no. {inquiry_id}) arrived, about: {where_en}.\n"
        f"Sign in to the planner workbench to read and answer it: {inbox}\n"
    )
    return msg


def send(settings: Settings, msg: EmailMessage) -> bool:
    """Deliver ``msg``; ``False`` (logged) on any failure."""
    try:
        with smtplib.SMTP(
            settings.smtp_host or "", settings.smtp_port, timeout=settings.smtp_timeout_s
        ) as smtp:
            smtp.ehlo()
            if settings.smtp_user and smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(msg)
        return True
    except (OSError, smtplib.SMTPException) as exc:
        # No address or password in the log line: the exception class and SMTP code suffice.
        log.warning(
            "inquiry notice not sent: %s %s", type(exc).__name__, getattr(exc, "smtp_code", "")
        )
        return False


def notify_inquiry(
    settings: Settings, inquiry_id: int, parcels: list[str], base_url: str | None = None
) -> threading.Thread | None:
    """Send the new-inquiry notice in the background; the thread (for tests) or ``None``
    when no SMTP is configured. Call only after the inquiry is committed."""
    if not smtp_configured(settings):
        return None
    msg = inquiry_message(settings, inquiry_id, parcels, base_url)
    t = threading.Thread(
        target=send, args=(settings, msg), name=f"notify-{inquiry_id}", daemon=True
    )
    t.start()
    return t
