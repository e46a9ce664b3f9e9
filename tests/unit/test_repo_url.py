"""Node repo locations: http(s) URLs and absolute local paths only, refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.forge import ForgeMirror, ForgeUnavailable
from adapters.repo_url import RepoUrlRefused, check_repo_url


@pytest.mark.parametrize(
    "url",
    [
        "http://forge.example/node-a.git",
        "https://forge.example:8443/org/node-a.git",
        "http://forge:s3cret@127.0.0.1:3000/node-a.git",
        "http://[::1]:3000/node-a.git",
        "/srv/forge/node-a.git",
    ],
)
def test_http_urls_and_absolute_paths_are_accepted(url: str) -> None:
    assert check_repo_url(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ssh://-oProxyCommand=touch${IFS}pwned/x", "scheme 'ssh' refused"),
        ("ext::sh -c touch% pwned", "transport helper"),
        ("file:///etc/passwd", "scheme 'file' refused"),
        ("git://forge.example/node-a.git", "scheme 'git' refused"),
        ("evil@forge.example:node-a.git", "neither an http(s) URL nor an absolute local path"),
        ("-oProxyCommand=touch pwned", "neither an http(s) URL"),
        ("relative/path.git", "neither an http(s) URL"),
        ("http://", "is not a valid host name"),
        ("http://exa mple.com/x", "not a valid host name"),
        ("http://-bad-.example/x", "not a valid host name"),
        ("http://forge.example:99999/x", "not a valid URL"),
        ("http://forge.example:0/x", "port 0"),
        ("http://forge.example/x\n", "control characters"),
        (" http://forge.example/x", "spaces around it"),
        ("", "give the node's git URL"),
        ("http://forge.example/" + "a" * 500, "longer than 500"),
    ],
)
def test_other_locations_are_refused_naming_the_problem(url: str, reason: str) -> None:
    with pytest.raises(RepoUrlRefused, match="^repo: ") as caught:
        check_repo_url(url)
    assert reason in str(caught.value)


def test_a_token_in_a_refused_url_is_not_repeated() -> None:
    with pytest.raises(RepoUrlRefused) as caught:
        check_repo_url("http://forge:s3cret@exa mple.com/x")
    assert "s3cret" not in str(caught.value)


@given(st.one_of(st.text(max_size=80), st.none(), st.integers()))
def test_any_text_is_accepted_or_refused_with_the_one_error(url: object) -> None:
    try:
        accepted = check_repo_url(url)
    except RepoUrlRefused as exc:
        assert str(exc).startswith("repo: ")
    else:
        scheme = accepted.split("://", 1)[0].lower() if "://" in accepted else ""
        assert accepted.startswith("/") or scheme in ("http", "https")


def test_the_mirror_refuses_a_bad_location_before_any_transport(tmp_path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ForgeUnavailable, match="transport helper"):
        ForgeMirror(mirror_dir=str(tmp_path), node="node-a", url=f"ext::sh -c touch% {marker}")
    assert not marker.exists()
