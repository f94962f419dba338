"""The SMTP sender: ``ARLEDGER_SMTP_URL=smtp://user:pass@host:port`` (STARTTLS when the
server offers it, and before any login; ``smtps://`` for TLS from the start), from
``ARLEDGER_MAIL_FROM``. Each message carries the Message-ID the notifier made for it, the
same on every try, so a receiver that sees it twice can tell. A refusal or a lost
connection raises, and the notifier records the failure and tries again later."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from channels.senders import Message
from infra.settings import Settings

PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    scheme: str
    host: str
    port: int
    user: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in PORTS or not parts.hostname:
            raise ValueError(
                "ARLEDGER_SMTP_URL must look like smtp://user:pass@host:port (or smtps://)"
            )
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(parts.scheme, parts.hostname, parts.port or PORTS[parts.scheme], user, password)


def mail_domain(settings: Settings) -> str:
    """The domain Message-IDs are made in: the sender address's."""
    return settings.mail_from.rpartition("@")[2] or "localhost"


def address(to: str, settings: Settings) -> str:
    """A coordinator is an actor name: mailed at the internal domain."""
    return to if "@" in to else f"{to}@{settings.mail_internal_domain}"


def build(message: Message, settings: Settings) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = address(message.to, settings)
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    if message.message_id:
        email["Message-ID"] = message.message_id
    email.set_content(message.body)
    for attachment in message.attachments:
        main, _, sub = attachment.media_type.partition("/")
        email.add_attachment(
            attachment.content, maintype=main, subtype=sub, filename=attachment.filename
        )
    return email


class SmtpSender:
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server = SmtpServer.parse(settings.smtp_url or "")

    def send(self, message: Message) -> str:
        email = build(message, self.settings)
        with self._connect() as smtp:
            smtp.send_message(email)
        return message.message_id or f"smtp:{message.notification_id}/{message.role}"

    def _connect(self) -> smtplib.SMTP:
        s, timeout = self.server, self.settings.smtp_timeout_s
        context = ssl.create_default_context(cafile=self.settings.smtp_ca_file)
        smtp: smtplib.SMTP
        if s.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=timeout)
        try:
            smtp.ehlo()
            if s.scheme == "smtp" and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp
