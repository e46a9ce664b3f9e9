"""The pure login rules: codes, the Mycelium-message verdict, and the key proof (NaCl box)."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress

import nacl.public
import pytest

from adapters.mycelium import InboundMessage
from gateway.auth.proofs import (
    CODE_PATTERN,
    MAX_FAILED_PROOFS_PER_CHALLENGE,
    ChallengeView,
    ProofRefused,
    judge,
    judge_message,
    new_code,
    normalize_code,
    open_key_proof,
)
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, BOB_KEY
from wire.address import derive_address
from wire.keys import make_key_proof

NOW = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.UTC)
CODE = "k7m2-q9xp-4hrt"
SERVICE = nacl.public.PrivateKey(bytes(range(32)))
ALICE_PK = bytes(ALICE_KEY.public_key)
BOB_PK = bytes(BOB_KEY.public_key)


def challenge(**changes: object) -> ChallengeView:
    fields: dict[str, object] = {
        "id": 7,
        "public_id": "ch_test",
        "address": ALICE_ADDRESS,
        "code": CODE,
        "expires_at": NOW + dt.timedelta(minutes=5),
    }
    fields.update(changes)
    return ChallengeView(**fields)  # type: ignore[arg-type]


def message(
    sender: bytes = ALICE_PK,
    payload: bytes = CODE.encode(),
    *,
    src_ip: str | None = None,
    topic: bytes = b"hero.login",
) -> InboundMessage:
    return InboundMessage(
        id="0123456789abcdef",
        src_ip=src_ip or str(derive_address(sender)),
        src_pk=sender.hex(),
        dst_ip=str(derive_address(bytes(SERVICE.public_key))),
        dst_pk=bytes(SERVICE.public_key).hex(),
        topic=topic,
        payload=payload,
    )


def neighbour_of(address: ipaddress.IPv6Address) -> str:
    """Another address in the same /64 (last bit flipped)."""
    return str(ipaddress.IPv6Address(address.packed[:15] + bytes([address.packed[15] ^ 1])))


class TestCodes:
    """Codes are easy to type, random, and read back whatever the case and blanks."""

    def test_a_new_code_has_the_pattern(self) -> None:
        assert CODE_PATTERN.match(new_code())

    def test_new_codes_differ(self) -> None:
        assert len({new_code() for _ in range(100)}) == 100

    def test_normalize_ignores_case_and_blanks(self) -> None:
        assert normalize_code(" K7M2-Q9XP-4HRT\n") == CODE

    @pytest.mark.parametrize("text", ["", "k7m2q9xp4hrt", "k7m2-q9xp-4hr0", "ch_123", "x" * 500])
    def test_normalize_refuses_what_is_not_a_code(self, text: str) -> None:
        assert normalize_code(text) is None


class TestJudgeMessage:
    """A message proves a challenge only from a key deriving to its address, in all 128 bits."""

    def test_a_message_from_the_addresss_key_is_accepted(self) -> None:
        verdict = judge_message(message(), [challenge()], NOW)
        assert (verdict.accepted, verdict.challenge_id) == (True, 7)

    def test_the_code_is_read_whatever_its_case_and_blanks(self) -> None:
        verdict = judge_message(message(payload=b"  K7M2-Q9XP-4HRT\n"), [challenge()], NOW)
        assert verdict.accepted

    def test_a_message_from_another_key_is_refused(self) -> None:
        verdict = judge_message(message(BOB_PK), [challenge()], NOW)
        assert (verdict.accepted, verdict.failed) == (False, True)

    def test_another_keys_refusal_names_both_addresses(self) -> None:
        verdict = judge_message(message(BOB_PK), [challenge()], NOW)
        assert str(derive_address(BOB_PK)) in verdict.reason and ALICE_ADDRESS in verdict.reason

    def test_a_wrong_code_is_refused(self) -> None:
        verdict = judge_message(message(payload=b"aaaa-bbbb-cccc"), [challenge()], NOW)
        assert (verdict.accepted, verdict.challenge_id) == (False, None)

    def test_a_payload_that_is_no_code_is_refused(self) -> None:
        assert not judge_message(message(payload=b"\xff\xfe"), [challenge()], NOW).accepted

    def test_an_expired_challenge_is_refused(self) -> None:
        verdict = judge_message(message(), [challenge(expires_at=NOW)], NOW)
        assert (verdict.accepted, verdict.closed) == (False, True)

    def test_a_proven_challenge_is_refused_a_second_time(self) -> None:
        verdict = judge_message(message(), [challenge(proven_at=NOW)], NOW)
        assert (verdict.accepted, verdict.closed) == (False, True)

    def test_a_used_challenge_is_refused(self) -> None:
        verdict = judge_message(message(), [challenge(used_at=NOW)], NOW)
        assert (verdict.accepted, verdict.closed) == (False, True)

    def test_a_neighbour_in_the_same_64_is_refused(self) -> None:
        # Given a login for an address sharing Bob's /64 but not his 128 bits
        claimed = neighbour_of(derive_address(BOB_PK))
        # When Bob's own node (srcIp consistent with srcPk) sends the code
        verdict = judge_message(message(BOB_PK), [challenge(address=claimed)], NOW)
        # Then a /64 comparison would accept it; the 128-bit one does not
        assert (verdict.accepted, verdict.failed) == (False, True)

    def test_a_neighbours_key_with_the_victims_64_as_source_is_refused(self) -> None:
        victim = derive_address(ALICE_PK)
        verdict = judge_message(message(BOB_PK, src_ip=neighbour_of(victim)), [challenge()], NOW)
        assert (verdict.accepted, verdict.failed) == (False, True)

    def test_a_source_ip_that_the_key_does_not_derive_to_is_refused(self) -> None:
        forged = message(ALICE_PK, src_ip=str(derive_address(BOB_PK)))
        assert not judge_message(forged, [challenge()], NOW).accepted

    def test_a_malformed_source_key_is_refused(self) -> None:
        bad = InboundMessage("1", ALICE_ADDRESS, "zz", "", "", b"hero.login", CODE.encode())
        assert not judge_message(bad, [challenge()], NOW).accepted

    def test_another_topic_is_refused(self) -> None:
        verdict = judge_message(message(topic=b"hero.login.extra"), [challenge()], NOW)
        assert not verdict.accepted

    def test_a_challenge_with_too_many_failures_refuses_even_a_good_message(self) -> None:
        tired = challenge(failed_attempts=MAX_FAILED_PROOFS_PER_CHALLENGE)
        assert not judge_message(message(), [tired], NOW).accepted

    def test_the_one_challenge_it_proves_is_chosen_among_several(self) -> None:
        other = challenge(id=8, address=str(derive_address(BOB_PK)))
        verdict = judge_message(message(), [other, challenge()], NOW)
        assert (verdict.accepted, verdict.challenge_id) == (True, 7)


class TestKeyProof:
    """A NaCl box from the user's key to the service key, holding the code."""

    def test_a_box_opens_to_the_users_key_and_the_code(self) -> None:
        pubkey, box = make_key_proof(ALICE_KEY, bytes(SERVICE.public_key), CODE)
        assert open_key_proof(SERVICE, pubkey_hex=pubkey, box_hex=box) == (ALICE_PK, CODE)

    def test_a_good_box_proves_the_challenge(self) -> None:
        pubkey, box = make_key_proof(ALICE_KEY, bytes(SERVICE.public_key), CODE)
        key, code = open_key_proof(SERVICE, pubkey_hex=pubkey, box_hex=box)
        assert judge(challenge(), code=code, public_key=key, now=NOW).accepted

    def test_a_box_for_another_service_does_not_open(self) -> None:
        elsewhere = nacl.public.PrivateKey(bytes(range(1, 33)))
        pubkey, box = make_key_proof(ALICE_KEY, bytes(elsewhere.public_key), CODE)
        with pytest.raises(ProofRefused, match="does not open"):
            open_key_proof(SERVICE, pubkey_hex=pubkey, box_hex=box)

    def test_a_box_claimed_for_another_key_does_not_open(self) -> None:
        _, box = make_key_proof(BOB_KEY, bytes(SERVICE.public_key), CODE)
        with pytest.raises(ProofRefused):
            open_key_proof(SERVICE, pubkey_hex=ALICE_PK.hex(), box_hex=box)

    def test_a_tampered_box_does_not_open(self) -> None:
        pubkey, box = make_key_proof(ALICE_KEY, bytes(SERVICE.public_key), CODE)
        tampered = box[:-2] + ("00" if box[-2:] != "00" else "01")
        with pytest.raises(ProofRefused):
            open_key_proof(SERVICE, pubkey_hex=pubkey, box_hex=tampered)

    @pytest.mark.parametrize(
        ("pubkey", "box", "field"),
        [("ab", "00", "pubkey"), ("zz" * 32, "00", "pubkey"), ("ab" * 32, "xyz", "box")],
    )
    def test_malformed_hex_names_the_field(self, pubkey: str, box: str, field: str) -> None:
        with pytest.raises(ProofRefused, match=f"^{field}:"):
            open_key_proof(SERVICE, pubkey_hex=pubkey, box_hex=box)

    @pytest.mark.parametrize("pubkey", ["00" * 32, "01" + "00" * 31, "e0eb7a7c3b41b8ae" * 4])
    def test_a_low_order_public_key_is_refused_not_an_error(self, pubkey: str) -> None:
        with pytest.raises(ProofRefused, match="does not open"):
            open_key_proof(SERVICE, pubkey_hex=pubkey, box_hex="00" * 40)

    def test_a_box_from_another_key_is_refused(self) -> None:
        verdict = judge(challenge(), code=CODE, public_key=BOB_PK, now=NOW)
        assert (verdict.accepted, verdict.failed) == (False, True)

    def test_a_box_with_the_wrong_code_is_refused(self) -> None:
        verdict = judge(challenge(), code="aaaa-bbbb-cccc", public_key=ALICE_PK, now=NOW)
        assert (verdict.accepted, verdict.failed) == (False, True)

    def test_a_box_after_expiry_is_refused(self) -> None:
        late = NOW + dt.timedelta(minutes=5)
        assert not judge(challenge(), code=CODE, public_key=ALICE_PK, now=late).accepted

    def test_a_box_for_a_neighbour_in_the_same_64_is_refused(self) -> None:
        claimed = neighbour_of(derive_address(BOB_PK))
        verdict = judge(challenge(address=claimed), code=CODE, public_key=BOB_PK, now=NOW)
        assert (verdict.accepted, verdict.failed) == (False, True)


def test_inbound_messages_round_trip_through_the_api_form() -> None:
    original = message()
    assert InboundMessage.from_api(original.to_api()) == original


def test_inbound_message_payload_is_standard_base64() -> None:
    api = message().to_api()
    assert base64.b64decode(api["payload"]) == CODE.encode()
