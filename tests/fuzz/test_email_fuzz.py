"""The email writer with arbitrary order ids, reasons, recipients and totals: its email, as smtplib
sends it, has exactly the headers it should and one recipient, in the To header and in the SMTP
envelope, or the writer refused it with UnsafeEmail (which the consumer dead-letters).

Notifications are built without the contract on purpose: the writer is safe on its own."""

from __future__ import annotations

import email.policy
from email.parser import Parser

from hypothesis import event, example, given
from hypothesis import strategies as st

from services.notifications.mailer import SmtpMailer, UnsafeEmail
from services.notifications.model import Notification
from tests.unit.notifications.fakes import HEADERS, RecordingSmtp, notification

SENDER = "Shop <shop@example.com>"

# Every character, control characters and line breaks of any kind included (surrogates aside).
anything = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)
very_long = st.text(st.characters(exclude_categories=["Cs"]), min_size=500, max_size=1500)  # past 998
# What sits between or around addresses in a header, and what ends one line and starts another.
separators = st.sampled_from(
    [*',;:<>"()\\ \t', "\r", "\n", "\r\n", "\r\n ", "\x00", "\x0b", "\x1c", "\x85", "\u2028"]
)
local_part = st.from_regex(r"[A-Za-z0-9._%+-]{1,20}", fullmatch=True) | st.text(min_size=1, max_size=20)
domain = st.from_regex(r"[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True) | st.text(min_size=1, max_size=20)
address = st.builds(lambda local, host: f"{local}@{host}", local_part, domain)
plain_address = st.from_regex(r"[A-Za-z0-9._%+-]{1,20}@[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True)
# Near misses of one address: an address with something glued on, before or after.
glued = st.builds(
    lambda a, s, b: a + s + b, address, separators, address | anything | st.just("Bcc: eve@example.com")
)
recipients = st.one_of(
    address, glued, st.builds(lambda s, a: s + a, separators, address), anything, very_long
)
order_ids = st.one_of(
    st.uuids().map(str),
    st.builds(lambda u, s, tail: f"{u}{s}{tail}", st.uuids().map(str), separators, anything),
    anything,
    very_long,
)
reasons = st.one_of(st.from_regex(r"[a-z_]{1,30}", fullmatch=True), anything, very_long)
totals = st.integers(min_value=-(10**40), max_value=10**40) | st.integers()


def send(notification: Notification) -> RecordingSmtp | None:
    """What the mailer hands to smtplib's client; None when it refused the email."""
    smtp = RecordingSmtp()
    mailer = SmtpMailer("smtp://mail:25", sender=SENDER, connect=lambda *_a, **_k: smtp)
    try:
        mailer.send(notification)
    except UnsafeEmail:
        return None
    return smtp


def assert_one_email_to_one_recipient(smtp: RecordingSmtp | None, recipient: str) -> None:
    event("refused" if smtp is None else "sent")  # the share of each, with --hypothesis-show-statistics
    if smtp is None:
        return  # refused: the documented outcome, dead-lettered by the consumer
    [wire] = smtp.messages
    assert smtp.envelope(b"rcpt TO:") == [f"<{recipient}>".encode()]
    parsed = Parser(policy=email.policy.default).parsestr(wire.decode())  # UTF-8 where SMTPUTF8 is on
    assert list(parsed.keys()) == HEADERS
    assert not parsed.defects
    assert [address.addr_spec for address in parsed["To"].addresses] == [recipient]


@given(order_id=order_ids, recipient=recipients, total=totals)
@example(order_id="o\r\n Bcc: eve@example.com", recipient="ada@example.com", total=1)
@example(order_id="o", recipient="ada@example.com,postmaster", total=1)
@example(order_id="o", recipient="zoë@exämple.com\n", total=1)
# Python 3.11.7's address parser raised on these (IndexError, AttributeError, TypeError,
# UnboundLocalError) instead of reporting a defect: found by this fuzzer.
@example(order_id="o", recipient="0@", total=1)
@example(order_id="o", recipient="a@[", total=1)
@example(order_id="o", recipient=" .;", total=1)
@example(order_id="o", recipient=".:", total=1)
@example(order_id="o", recipient="a@[ ", total=1)
def test_a_confirmation_never_gains_a_header_or_a_recipient(
    order_id: str, recipient: str, total: int
) -> None:
    smtp = send(notification("order_confirmed", order_id=order_id, recipient=recipient, detail=str(total)))

    assert_one_email_to_one_recipient(smtp, recipient)


# The reason goes into the body: with an order id and an address that get an email sent
# (the confirmation above tries hostile ones), whatever the reason, the headers stay the same.
@given(order_id=st.uuids().map(str), recipient=plain_address, reason=reasons)
@example(
    order_id="o", recipient="ada@example.com", reason="x\r\nBcc: eve@example.com\r\n\r\n.\r\nRCPT TO:<e@x.y>"
)
def test_a_cancellation_never_gains_a_header_or_a_recipient(
    order_id: str, recipient: str, reason: str
) -> None:
    smtp = send(notification("order_cancelled", order_id=order_id, recipient=recipient, detail=reason))

    assert_one_email_to_one_recipient(smtp, recipient)


@given(order_id=st.uuids().map(str), recipient=st.emails(), total=st.integers(min_value=0, max_value=10**12))
def test_a_valid_order_to_a_valid_address_is_always_sent(order_id: str, recipient: str, total: int) -> None:
    """The refusal is not overbroad: every RFC 5322 address (hypothesis' emails()) gets its email."""
    smtp = send(notification("order_confirmed", order_id=order_id, recipient=recipient, detail=str(total)))

    assert smtp is not None
    assert_one_email_to_one_recipient(smtp, recipient)
