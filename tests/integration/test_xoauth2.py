"""XOAUTH2 against Dovecot for real: Dovecot's ``oauth2`` passdb checks each token with a fake provider.

The provider is an RFC 7662 token introspection endpoint on loopback that
knows one token; Dovecot POSTs every token it is given to it.  triage reads
the token from a file or from a command's output and never prints it.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.conftest import SENDER, Cli, fixtures
from triage.testing.dovecot import Dovecot, available

pytestmark = pytest.mark.integration

USER = "oauth.sdr@example.test"
TOKEN = "ya29.test-token-6b1f0c2e"


class Provider:
    """A fake OAuth provider's introspection endpoint: ``TOKEN`` is active for ``USER``."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                token = form.get("token", [""])[0]
                provider.seen.append(token)
                body = json.dumps({"active": True, "username": USER} if token == TOKEN else {"active": False}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/introspect"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    fake = Provider()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def oauth_dovecot(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[Dovecot]:
    if not available():
        pytest.skip("Dovecot (Debian's dovecot-imapd) or openssl is not installed: ./scripts/test installs them")
    server = Dovecot(tmp_path_factory.mktemp("dovecot-oauth"), oauth2_url=provider.url).start()
    server.add_user(USER, "setup-only-password")  # the tests fill the mailbox with a password login
    with server.client(USER) as conn:
        for path in fixtures("referral", 3):
            conn.append("INBOX", path.read_bytes())
    yield server
    server.stop()


@pytest.fixture
def oauth_cli(oauth_dovecot: Dovecot, tmp_path: Path) -> Cli:
    env = oauth_dovecot.settings(user=USER)
    env["TRIAGE_IMAP_PASSWORD"] = ""  # no password: the token is the only credential
    return Cli(env={**env, **SENDER, "TRIAGE_DB": str(tmp_path / "triage.db")}, db=tmp_path / "triage.db")


def test_xoauth2_with_a_token_file(oauth_cli: Cli, provider: Provider, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    provider.seen.clear()
    result = oauth_cli.run("--json", TRIAGE_IMAP_OAUTH_TOKEN_FILE=str(token_file))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    # Dovecot asked the provider about exactly the token in the file (once per connection: inbox, Sent folder)
    assert provider.seen and set(provider.seen) == {TOKEN}
    assert TOKEN not in result.stderr


def test_xoauth2_with_a_token_command(oauth_cli: Cli, provider: Provider) -> None:
    provider.seen.clear()
    command = f"{sys.executable} -c \"print('{TOKEN}')\""
    result = oauth_cli.run("--json", TRIAGE_IMAP_OAUTH_TOKEN_COMMAND=command)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3 and provider.seen and set(provider.seen) == {TOKEN}


def test_a_token_the_provider_rejects_is_a_login_error_that_never_shows_it(oauth_cli: Cli, provider: Provider, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("ya29.expired-0000")
    result = oauth_cli.run("-vv", TRIAGE_IMAP_OAUTH_TOKEN_FILE=str(token_file))
    assert result.exit_code == 1
    assert f"login as {USER} failed" in result.stderr and "AUTHENTICATIONFAILED" in result.stderr
    assert "ya29.expired-0000" not in result.output and provider.seen[-1] == "ya29.expired-0000"


def test_a_missing_token_file_or_failing_command_is_a_configuration_error(oauth_cli: Cli, tmp_path: Path) -> None:
    result = oauth_cli.run(TRIAGE_IMAP_OAUTH_TOKEN_FILE=str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "cannot read the OAuth token file" in result.stderr
    result = oauth_cli.run(TRIAGE_IMAP_OAUTH_TOKEN_COMMAND=f"{sys.executable} -c 'raise SystemExit(3)'")
    assert result.exit_code == 2 and "the OAuth token command failed" in result.stderr
