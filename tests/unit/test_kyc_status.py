"""iDenfy's status call: the answer read as carefully as a webhook, errors a caller can
tell apart, and what each status does to the gate."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.kyc import KycAnswerInvalid, KycKeysRefused, KycRetryLater
from adapters.kyc.idenfy import IdenfyProvider
from adapters.kyc.idenfy_status import STATUS_EVENT, parse_idenfy_status
from messages.facts import KycChecked, message_for
from models.kyc_rules import RANK_FINAL, RANK_MANUAL, RANK_PRELIMINARY, Step, applies, step_of
from models.kyc_rules import STATUS_EVENT as RULES_STATUS_EVENT
from tests.support.fake_idenfy import error, fake_idenfy
from tests.support.message_contract import check_message

SCAN = "ec6a7108-8c26-11e9-9758-309c231b1bac"


def answer(**over: Any) -> dict[str, Any]:
    """The "Data retrieval" page's example status answer."""
    data: dict[str, Any] = {
        "fraudTags": [],
        "mismatchTags": [],
        "autoDocument": "DOC_VALIDATED",
        "autoFace": "FACE_MATCH",
        "manualDocument": None,
        "manualFace": None,
        "scanRef": SCAN,
        "clientId": "hk01",
        "status": "APPROVED",
    }
    data.update(over)
    return data


def parse(data: Any) -> dict[str, Any]:
    return parse_idenfy_status(json.dumps(data).encode(), scan_ref=SCAN).as_message()


def test_the_rules_and_the_parser_name_the_status_event_alike() -> None:
    assert STATUS_EVENT == RULES_STATUS_EVENT


def test_an_approved_answer_is_a_final_approval() -> None:
    result = parse(answer())
    assert result["event_type"] == STATUS_EVENT and result["final"] is True
    assert result["overall"] == "APPROVED" and result["client_id"] == "hk01"
    assert step_of(result) == Step("approved", RANK_FINAL)


@pytest.mark.parametrize(
    ("status", "manual", "step"),
    [
        ("APPROVED", None, Step("approved", RANK_FINAL)),
        ("DENIED", None, Step("denied", RANK_FINAL)),
        ("SUSPECTED", None, Step("suspected", RANK_FINAL)),
        ("DENIED", "DOC_FAKE", Step("denied", RANK_MANUAL)),
        ("REVIEWING", None, Step("pending", RANK_PRELIMINARY)),
        ("ACTIVE", None, Step(None, 0)),
        ("EXPIRED", None, Step("expired", RANK_FINAL)),
        ("DELETED", None, Step("expired", RANK_FINAL)),
        ("ARCHIVED", None, Step("expired", RANK_FINAL)),
        ("SOMETHING_NEW", None, Step(None, 0)),
        ("approved", None, Step("approved", RANK_FINAL)),
    ],
)
def test_each_status_moves_the_gate_as_decided(status: str, manual: str | None, step: Step) -> None:
    assert step_of(parse(answer(status=status, manualDocument=manual))) == step


def test_an_unknown_status_is_kept_as_unknown_and_changes_nothing() -> None:
    result = parse(answer(status="SOMETHING_NEW"))
    assert result["overall"] == "UNKNOWN" and result["final"] is False
    assert not applies(step_of(result), current_rank=0, same_session=True, by_operator=False)


def test_a_status_answer_and_a_webhook_of_the_same_verdict_apply_once() -> None:
    status = step_of(parse(answer()))
    webhook = step_of(
        {"event_type": "IDENTIFICATION_AUTO_FINISHED", "final": True, "overall": "APPROVED"}
    )
    for first, second in ((status, webhook), (webhook, status)):
        assert applies(first, current_rank=0, same_session=True, by_operator=False)
        assert not applies(second, current_rank=first.rank, same_session=True, by_operator=False)


def test_a_later_manual_webhook_still_wins_over_a_status_answer() -> None:
    status = step_of(parse(answer(status="SUSPECTED")))
    manual = step_of(
        {
            "event_type": "IDENTIFICATION_MANUAL_FINISHED",
            "final": True,
            "overall": "APPROVED",
            "manual_document": "DOC_VALIDATED",
        }
    )
    assert applies(manual, current_rank=status.rank, same_session=True, by_operator=False)


def test_reason_codes_and_tags_are_kept_and_the_digest_is_not_a_webhooks() -> None:
    raw = json.dumps(answer(status="DENIED", autoDocument="DOC_EXPIRED", fraudTags=["X"]))
    result = parse_idenfy_status(raw.encode(), scan_ref=SCAN)
    assert result.auto_document == "DOC_EXPIRED" and result.tags["fraudTags"] == ["X"]
    assert result.digest != hashlib.sha256(raw.encode()).hexdigest()
    check_message(message_for(KycChecked(result.as_message())))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"not json", "body"),
        ([1], "body"),
        ({**answer(), "scanRef": None}, "scanRef"),
        ({**answer(), "scanRef": "other"}, "scanRef"),
        ({**answer(), "clientId": 5}, "clientId"),
        ({**answer(), "status": None}, "status"),
        ({**answer(), "status": "\x00"}, "status"),
        ({**answer(), "autoFace": 1}, "autoFace"),
        ({**answer(), "fraudTags": "DUPLICATE_FACE"}, "fraudTags"),
        ({**answer(), "mismatchTags": [1]}, "mismatchTags"),
    ],
)
def test_a_bad_answer_is_refused_naming_the_field(data: Any, field: str) -> None:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(KycAnswerInvalid, match=f"^{field}: "):
        parse_idenfy_status(raw, scan_ref=SCAN)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    ["status", "scanRef", "clientId", "autoDocument", "autoFace", "manualDocument"]
    + ["manualFace", "fraudTags", "mismatchTags", "suspicionReasons", "other"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS | st.text(), JSON, max_size=12), st.booleans())
def test_any_json_object_is_read_or_refused_with_the_parse_error(
    data: dict[str, Any], keep_scan: bool
) -> None:
    if keep_scan:
        data = {**data, "scanRef": SCAN}
    try:
        result = parse(data)
    except KycAnswerInvalid as exc:
        assert str(exc).split(":")[0]
        return
    check_message(message_for(KycChecked(result)))
    step_of(result)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_read_or_refused_with_the_parse_error(raw: bytes) -> None:
    with contextlib.suppress(KycAnswerInvalid):
        parse_idenfy_status(raw, scan_ref=SCAN)


# -- the call, against the stand-in ----------------------------------------------------


def provider(url: str, secret: str = "secret") -> IdenfyProvider:
    return IdenfyProvider(api_key="key", api_secret=secret, signing_key="s", api_base=url)


def test_the_call_asks_with_basic_auth_and_reads_the_answer() -> None:
    with fake_idenfy("key", "secret", "s") as fake:
        scan = provider(fake.url).start(client_id="hk01", return_url="http://x/kyc").scan_ref
        assert provider(fake.url).status(scan).result["overall"] == "ACTIVE"
        fake.sessions[scan]["status"]["status"] = "APPROVED"
        assert provider(fake.url).status(scan).result["overall"] == "APPROVED"
        assert fake.status_calls == [scan, scan]


def test_wrong_keys_say_so() -> None:
    with (
        fake_idenfy("key", "secret", "s") as fake,
        pytest.raises(KycKeysRefused, match="HERO_IDENFY_API_KEY"),
    ):
        provider(fake.url, secret="wrong").status(SCAN)


def test_a_5xx_or_429_may_be_tried_again_and_says_it_was_answered() -> None:
    with fake_idenfy("key", "secret", "s") as fake:
        fake.status_faults[SCAN] = [
            (500, error("INTERNAL_ERROR", "boom")),
            (429, error("TOO_MANY_REQUESTS", "slow down")),
        ]
        for identifier in ("INTERNAL_ERROR", "TOO_MANY_REQUESTS"):
            with pytest.raises(KycRetryLater, match=identifier) as caught:
                provider(fake.url).status(SCAN)
            assert caught.value.answered


def test_an_unknown_scan_ref_or_garbage_is_unusable() -> None:
    with fake_idenfy("key", "secret", "s") as fake:
        with pytest.raises(KycAnswerInvalid, match="BAD_VALUE"):
            provider(fake.url).status(SCAN)
        fake.status_faults[SCAN] = [(200, "garbage")]
        with pytest.raises(KycAnswerInvalid, match="^body: not a JSON object"):
            provider(fake.url).status(SCAN)


def test_no_answer_or_a_timeout_may_be_tried_again() -> None:
    def timing_out(*args: Any, **kwargs: Any) -> Any:
        raise requests.Timeout("read timed out")

    stuck = IdenfyProvider(api_key="k", api_secret="s", signing_key="s", post=timing_out)
    with pytest.raises(KycRetryLater, match="Timeout") as caught:
        stuck.status(SCAN)
    assert not caught.value.answered
    with pytest.raises(KycRetryLater, match="could not be reached"):
        provider("http://127.0.0.1:9").status(SCAN)
