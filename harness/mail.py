"""Read the mail the stack sent, through Mailpit's HTTP API (or infra/smtp_sink's copy of it).

notifications gives every email the Message-ID `<order_id.template@notifications.shop>`,
so each message says which order and which outcome it is about.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from harness.waiting import wait_until

PAGE = 500


@dataclass(frozen=True)
class Mail:
    id: str
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    created: str

    @classmethod
    def from_summary(cls, summary: dict) -> Mail:
        return cls(
            id=summary["ID"],
            message_id=summary["MessageID"],
            sender=summary["From"]["Address"],
            recipients=tuple(to["Address"] for to in summary["To"]),
            subject=summary["Subject"],
            created=summary["Created"],
        )

    @property
    def order_id(self) -> str:
        return self.message_id.partition("@")[0].rpartition(".")[0]

    @property
    def template(self) -> str:
        return self.message_id.partition("@")[0].rpartition(".")[2]


class Mailbox:
    def __init__(self, base_url: str) -> None:
        self.url = base_url.rstrip("/") + "/api/v1/messages"

    def count(self) -> int:
        response = requests.get(self.url, params={"limit": 1}, timeout=5)
        response.raise_for_status()
        return response.json()["total"]

    def list(self) -> list[Mail]:
        """Every message, oldest first."""
        mails: list[Mail] = []
        while True:
            response = requests.get(self.url, params={"start": len(mails), "limit": PAGE}, timeout=5)
            response.raise_for_status()
            page = response.json()
            mails += [Mail.from_summary(s) for s in page["messages"]]
            if not page["messages"] or len(mails) >= page["total"]:
                return mails[::-1]

    def wait_for_count(self, count: int, timeout: float = 30) -> list[Mail]:
        """Wait until at least `count` messages arrived; returns them all."""
        wait_until(lambda: self.count() >= count, timeout, 0.1, f"{count} emails")
        return self.list()

    def clear(self) -> None:
        requests.delete(self.url, timeout=5).raise_for_status()
