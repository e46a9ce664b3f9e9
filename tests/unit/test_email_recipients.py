"""A stored address that predates the email check (or was written behind the CLI's back)
is refused by the sender, and never stops the other emails of a batch."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from actors.notify import send_pending
from adapters.email import EmailError, EmailSender, FolderSender, SendGridSender
from models import Account, Notification

BAD = ["a@b.cd\nBcc: victim@example.com", "[/]x@y.zz", "no-at-sign", "a@b.cd\x1b[2J"]


@pytest.mark.parametrize("to", BAD)
def test_both_senders_refuse_a_bad_recipient_naming_it(to: str, tmp_path: Path) -> None:
    senders: list[EmailSender] = [
        FolderSender(folder=str(tmp_path), sender="billing@hero.example"),
        SendGridSender(
            api_key="SG.x", sender="billing@hero.example", api_base="http://127.0.0.1:9"
        ),
    ]
    for sender in senders:
        with pytest.raises(EmailError, match="^to: "):
            sender.send(to=to, subject="Hero", text="hello")
    assert list(tmp_path.iterdir()) == []


def test_a_bad_stored_address_does_not_stop_the_batch(sqlite_db: str, tmp_path: Path) -> None:
    # Given a poison address between two good ones
    for n, email in enumerate(["ann@example.com", BAD[0], "bob@example.com"]):
        account = Account.create(
            address=f"400::{n + 1}",
            email=email,
            email_verified_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
        Notification.create(
            account=account, kind="payment_credited", key=f"k{n}", payload='{"amount_cents": 100}'
        )

    # When the pending emails are sent
    counts = send_pending(FolderSender(folder=str(tmp_path), sender="billing@hero.example"))

    # Then the two good ones are sent and the bad one is counted as failed
    assert counts == {"sent": 2, "skipped": 0, "failed": 1}
    assert len(list(tmp_path.glob("*.eml"))) == 2
