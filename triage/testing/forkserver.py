"""Start ``triage`` commands as forked children of a warm interpreter, for tests that start many.

``triage daemon`` spends about three seconds importing scikit-learn and
SciPy before it reads any mail.  A test that kills the daemon twenty times
would spend a minute on imports alone, and most kills would land in them.
This server imports everything once, decides one reply to warm the lazy
parts, then forks a child per request; each child is a real process running
``triage.cli.main`` with its own environment, log file, signal handlers and
database connections, exactly as ``triage daemon`` would, minus the imports.
It can be killed with SIGKILL like any process.

Protocol, one JSON object per line on stdin, one answer per line on stdout::

    {"args": ["daemon"], "env": {"TRIAGE_DB": "..."}, "log": "/tmp/d.log"}  ->  {"pid": 1234}
    {"wait": 1234}                                                         ->  {"code": -9}

Run as ``python -m triage.testing.forkserver``; :class:`ForkServer` is the client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def _warm_up() -> None:
    from triage import config, daemon, delivery, imap, runner, store  # noqa: F401
    from triage.cli import _build_composer, _build_decider
    from triage.parsing import parse
    from triage.records import RawMessage

    settings = config.load(env={})
    decider = _build_decider(settings, None)
    _build_composer(settings)
    sample = next((config.ROOT / "fixtures" / "emails" / "referral").glob("*.eml"), None)
    if sample is not None:
        decider.decide(parse(RawMessage(str(sample), sample.read_bytes())))


def _child(request: dict[str, Any]) -> None:
    """Become the requested command; never returns."""
    code = 1
    try:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for name in [n for n in os.environ if n.startswith("TRIAGE_")]:
            del os.environ[name]
        os.environ.update(request["env"])
        from triage.cli import main

        try:
            main(request["args"], prog_name="triage")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    _warm_up()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "wait" in request:
            _, status = os.waitpid(int(request["wait"]), 0)
            answer: dict[str, int] = {"code": os.waitstatus_to_exitcode(status)}
        else:
            pid = os.fork()
            if pid == 0:
                _child(request)
            answer = {"pid": pid}
        print(json.dumps(answer), flush=True)


class ForkServer:
    """The client: ``spawn`` a command, ``wait`` for its exit code; ``close`` ends the server."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "triage.testing.forkserver"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        ready = self._read()
        if "ready" not in ready:
            raise RuntimeError(f"the fork server did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the fork server went away")
        return dict(json.loads(line))

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def spawn(self, args: list[str], env: dict[str, str], log: Path) -> int:
        return int(self._ask({"args": args, "env": env, "log": str(log)})["pid"])

    def wait(self, pid: int) -> int:
        """The exit code of a spawned child (negative: killed by that signal)."""
        return int(self._ask({"wait": pid})["code"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()


if __name__ == "__main__":
    serve()
