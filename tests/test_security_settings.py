"""Issue 18, defects 3 and 13: only SENSORIUM_HTTP__* configures HTTP, and a token must be a real secret."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError
from sensorium.server.settings import MIN_TOKEN_CHARS, HttpSettings, Settings

STRONG = "k7Qd-2vR9_xLp0ZmWc4T"  # 20 characters, as secrets.token_urlsafe makes them


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith(("SENSORIUM_", "GEMINI_", "GOOGLE_API")):
            monkeypatch.delenv(key)
    return monkeypatch


def test_bare_host_port_token_in_the_environment_are_ignored(clean_env: pytest.MonkeyPatch) -> None:
    """A machine with HOST/PORT/TOKEN set for something else must not configure this server (defect 13)."""
    clean_env.setenv("HOST", "0.0.0.0")
    clean_env.setenv("PORT", "1")
    clean_env.setenv("TOKEN", "someone-elses-token-value")
    http = Settings().http
    assert (http.host, http.port, http.token) == ("127.0.0.1", 8765, None)


def test_prefixed_names_still_configure_http(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SENSORIUM_HTTP__HOST", "0.0.0.0")
    clean_env.setenv("SENSORIUM_HTTP__PORT", "9000")
    clean_env.setenv("SENSORIUM_HTTP__TOKEN", STRONG)
    http = Settings().http
    assert (http.host, http.port) == ("0.0.0.0", 9000)
    assert http.token is not None and http.token.get_secret_value() == STRONG


@pytest.mark.parametrize("token", [" ", "\t\n", "short", "has a space inside it ok", "a" * 40, "1234" * 5])
def test_weak_or_blank_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValidationError) as err:
        HttpSettings(token=token)
    assert "token" in str(err.value)


def test_an_empty_token_means_no_token() -> None:
    assert HttpSettings(token="").token is None


def test_a_refused_token_is_not_echoed_by_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from server_support import subprocess_env

    env = subprocess_env(tmp_path, SENSORIUM_HTTP__TOKEN="weak-Secret1")
    r = subprocess.run([sys.executable, "-m", "sensorium.server.cli", "serve", "--transport", "http"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "SENSORIUM_HTTP__TOKEN" in r.stderr and "too weak" in r.stderr
    assert "weak-Secret1" not in r.stderr
