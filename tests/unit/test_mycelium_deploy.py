"""The service node's shipped topic configuration says what Mycelium's parser expects.

Format: threefoldtech/mycelium v0.7.10, ``mycelium/src/message/topic.rs``
(``impl Deserialize for TopicConfig``): ``default`` is ``"Accept"`` or ``"Reject"``
(``MessageAction``); every other key is a topic's raw text with ``subnets``. The node
silently ignores a file that does not parse, so a mistake here would go unnoticed.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path

from gateway.auth.proofs import LOGIN_TOPIC
from tests.support.login import ALICE_KEY
from wire.address import derive_address

ROOT = Path(__file__).resolve().parents[2]


def test_the_service_node_takes_only_the_login_topic_from_any_address() -> None:
    config = tomllib.loads((ROOT / "deploy" / "mycelium-topics.toml").read_text())
    assert config["default"] == "Reject"
    topics = {key: value for key, value in config.items() if key != "default"}
    assert list(topics) == [LOGIN_TOPIC.decode()]
    subnets = [ipaddress.ip_network(s) for s in topics[LOGIN_TOPIC.decode()]["subnets"]]
    assert any(derive_address(bytes(ALICE_KEY.public_key)) in net for net in subnets)
    assert subnets == [ipaddress.ip_network("400::/7")]


def test_compose_gives_the_node_its_topic_file_and_the_gateway_its_key() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    assert "./deploy/mycelium-topics.toml:/etc/mycelium/topics.toml:ro" in compose
    assert "--topic-config=/etc/mycelium/topics.toml" in compose
    assert "--key-file=/var/lib/mycelium/key.bin" in compose
    assert "HERO_MYCELIUM_KEY: /var/lib/mycelium/key.bin" in compose
    assert "HERO_MYCELIUM_API: http://mycelium:8989/api/v1" in compose
