"""Issue 7: triage against the bare IMAP rate, IDLE latency, daemon RSS and training time, in one run.

Starts a private Dovecot in a temporary directory (triage.testing.dovecot),
and stops it at the end.  Steps:

1. generate --count replies (bench/generate.py: recombined fixtures, 2-20 KB,
   several MIME shapes, charsets and encodings, auto-replies, bounces);
2. load them into INBOX with MULTIAPPEND + LITERAL+ (raw imaplib; each
   message's INTERNALDATE is its Date header);
3. time, alternately for --rounds rounds:
   (a) bare imapclient: login, EXAMINE, SEARCH ALL, FETCH BODY.PEEK[] in
       batches of --batch (500) -- messages/s;
   (b) `triage --since 2000-01-01 --dry-run --json` as a subprocess with the
       harness's TRIAGE_IMAP_* variables, stdout to /dev/null -- messages/s,
       wall clock from spawn to exit (imports and model load included).
       With `--workers` in the CLI: once with --workers 1 and once with 2.
   Medians over the rounds; ratio (b)/(a) (target >= 0.5, DESIGN.md section 5);
4. IDLE latency: `triage daemon` on an empty folder "Live" (TRIAGE_DB in the
   temp dir); --live referral replies are APPENDed one at a time, one every
   0.5-1 s; for each, the time from APPEND completion to its row in the
   SQLite `replies` table, and to its `outbox` row (polled every 5 ms);
5. the daemon's peak RSS (VmHWM at the end, and the largest VmRSS polled);
6. `triage train <1,000 replies as JSONL> --no-grouped --no-ner` (the
   replies built as bench/train.py builds them), wall seconds;
7. the figures, with `date -u`, nproc, `python -V` and /proc/loadavg before
   and after, printed and written to bench/RESULTS.md (--results).

Example (about 8-10 minutes on 2 cores):  .venv/bin/python bench/imap.py
While developing:                        .venv/bin/python bench/imap.py --count 2000 --results /tmp/results.md
"""

from __future__ import annotations

import argparse
import imaplib
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import generate as gen  # noqa: E402

TRIAGE = str(Path(sys.executable).with_name("triage"))
FOLDER_LIVE = "Live"
FOLDER_EMPTY = "Empty"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def shell(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# -- the server ------------------------------------------------------------------------

def tls_client(server: Any, tls: str) -> Any:
    import imapclient

    if tls == "none":
        client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=120)
    else:
        context = ssl.create_default_context(cafile=str(server.ca_file))
        client = imapclient.IMAPClient("localhost", port=server.tls_port, ssl=True, ssl_context=context, timeout=120)
        if tls == "starttls":
            raise SystemExit("--tls starttls is not supported by the benchmark; use ssl or none")
    client.login(server.user, server.password)
    return client


def load_mailbox(server: Any, tls: str, messages: list[gen.Generated], folder: str = "INBOX", chunk: int = 500) -> dict[str, Any]:
    """MULTIAPPEND with LITERAL+ (RFC 3502 + RFC 7888) through raw imaplib; imapclient APPENDs as a fallback."""
    t0 = time.perf_counter()
    if tls == "none":
        conn = imaplib.IMAP4("127.0.0.1", server.port)
    else:
        conn = imaplib.IMAP4_SSL("localhost", server.tls_port, ssl_context=ssl.create_default_context(cafile=str(server.ca_file)))
    conn.login(server.user, server.password)
    typ, data = conn.capability()  # the list after login (Dovecot announces fewer before it)
    caps = {c.upper() for c in b" ".join(data).decode().split()} if typ == "OK" else set()
    method = "MULTIAPPEND+LITERAL+" if {"MULTIAPPEND", "LITERAL+"} <= caps else "APPEND"
    if method == "APPEND":
        conn.logout()
        client = tls_client(server, tls)
        for m in messages:
            client.append(folder, m.data, flags=(), msg_time=m.date)
        client.logout()
    else:
        quoted = '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for n, start in enumerate(range(0, len(messages), chunk)):
            tag = f"B{n:05d}".encode()
            parts = [tag + b" APPEND " + quoted.encode()]
            for m in messages[start:start + chunk]:
                parts.append(b" " + imaplib.Time2Internaldate(m.date).encode() + b" {%d+}\r\n" % len(m.data) + m.data)
            parts.append(b"\r\n")
            conn.send(b"".join(parts))
            while True:
                line = conn.readline()
                if not line:
                    raise SystemExit("the server closed the connection during MULTIAPPEND")
                if line.startswith(tag + b" "):
                    if not line.startswith(tag + b" OK"):
                        raise SystemExit(f"MULTIAPPEND failed: {line[:300]!r}")
                    break
        conn.logout()
    seconds = time.perf_counter() - t0
    client = tls_client(server, tls)
    exists = int(client.select_folder(folder, readonly=True)[b"EXISTS"])
    client.logout()
    if exists != len(messages):
        raise SystemExit(f"{folder} holds {exists} messages after loading {len(messages)}")
    return {"method": method, "seconds": seconds, "rate": len(messages) / seconds, "count": exists}


# -- (a) and (b) -------------------------------------------------------------------

def bare_fetch(server: Any, tls: str, batch: int) -> dict[str, Any]:
    c0 = time.process_time()
    t0 = time.perf_counter()
    client = tls_client(server, tls)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    count = size = 0
    for start in range(0, len(uids), batch):
        response = client.fetch(uids[start:start + batch], ["BODY.PEEK[]"])
        for data in response.values():
            count += 1
            size += len(data[b"BODY[]"])
    client.logout()
    wall = time.perf_counter() - t0
    return {"wall": wall, "cpu": time.process_time() - c0, "count": count, "bytes": size, "rate": count / wall}


def triage_env(server: Any, tls: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}  # no user config leaks in
    env.update(server.settings(tls=tls))
    env["TRIAGE_DB"] = str(tmp / "unused.db")
    env.update(extra)
    return env


def run_child(cmd: list[str], env: dict[str, str], *, stdout: Any, stderr: Any) -> dict[str, Any]:
    """Run a command; wall clock, the child's CPU time and peak RSS (wait4 rusage, children included)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024, "code": proc.returncode}


def triage_oneshot(server: Any, tls: str, tmp: Path, workers: int | None, count: int, *, tag: str, keep_json: bool) -> dict[str, Any]:
    cmd = [TRIAGE, "--since", "2000-01-01", "--dry-run", "--json"] + (["--workers", str(workers)] if workers else [])
    err_path = tmp / f"oneshot-{tag}.stderr"
    out_path = tmp / f"oneshot-{tag}.jsonl"
    with open(out_path if keep_json else os.devnull, "wb") as out, err_path.open("wb") as err:
        result = run_child(cmd, triage_env(server, tls, tmp), stdout=out, stderr=err)
    result.update(count=count, rate=count / result["wall"], cmd=" ".join(cmd), stderr=str(err_path), json=str(out_path) if keep_json else None)
    result["stderr_lines"] = err_path.read_text(errors="replace").splitlines()
    return result


def empty_oneshot(server: Any, tls: str, tmp: Path, workers: int | None) -> dict[str, Any]:
    """The fixed cost of a one-shot (imports, model load, login) over an empty folder."""
    cmd = [TRIAGE, "--since", "2000-01-01", "--dry-run", "--json"] + (["--workers", str(workers)] if workers else [])
    with open(os.devnull, "wb") as out, (tmp / "empty.stderr").open("wb") as err:
        return run_child(cmd, triage_env(server, tls, tmp, TRIAGE_IMAP_FOLDER=FOLDER_EMPTY), stdout=out, stderr=err)


def check_json(path: str, messages: list[gen.Generated]) -> dict[str, Any]:
    """What the one-shot decided, against what each message was generated from."""
    truth = {m.message_id: m.label for m in messages}
    confusion: Counter[tuple[str, str]] = Counter()
    seen = 0
    contacts = forwards = 0
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        seen += 1
        confusion[(truth.get(row["message_id"], "?"), row["label"])] += 1
        if row["label"] == "referral":
            contacts += bool(row.get("contact"))
            forwards += bool(row.get("forward"))
    agree = sum(n for (t, p), n in confusion.items() if t == p)
    return {"records": seen, "agree": agree, "confusion": {f"{t}->{p}": n for (t, p), n in sorted(confusion.items())},
            "referral_with_contact": contacts, "referral_with_forward": forwards}


# -- IDLE latency -----------------------------------------------------------------------

class Watcher(threading.Thread):
    """Polls the daemon's SQLite store (every 5 ms) and its RSS (every 0.2 s)."""

    def __init__(self, db: Path, pid: int) -> None:
        super().__init__(daemon=True)
        self.db, self.pid = db, pid
        self.reply_seen: dict[str, float] = {}
        self.outbox_seen: dict[str, float] = {}
        self.labels: dict[str, str] = {}
        self.max_rss_kb = 0
        self.stop = threading.Event()
        self.errors: list[str] = []

    def rss(self, field: str = "VmRSS") -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self) -> None:
        conn = None
        last_rss = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if now - last_rss > 0.2:
                self.max_rss_kb = max(self.max_rss_kb, self.rss())
                last_rss = now
            try:
                if conn is None and self.db.exists():
                    conn = sqlite3.connect(str(self.db), timeout=1)
                    conn.execute("PRAGMA query_only = 1")
                if conn is not None:
                    rows = conn.execute("SELECT r.message_id, r.label, o.id FROM replies r LEFT JOIN outbox o ON o.reply_key = r.key").fetchall()
                    now = time.monotonic()
                    for message_id, label, outbox_id in rows:
                        if message_id not in self.reply_seen:
                            self.reply_seen[message_id] = now
                            self.labels[message_id] = label
                        if outbox_id is not None and message_id not in self.outbox_seen:
                            self.outbox_seen[message_id] = now
            except sqlite3.Error as exc:  # the table may not exist yet, or the file is being created
                if len(self.errors) < 5:
                    self.errors.append(str(exc))
            time.sleep(0.005)
        if conn is not None:
            conn.close()


class BareIdle(threading.Thread):
    """A bare imapclient IDLE on the same folder: when the server announces each APPEND (the floor of any IDLE latency)."""

    def __init__(self, server: Any, tls: str) -> None:
        super().__init__(daemon=True)
        self.client = tls_client(server, tls)
        self.client.select_folder(FOLDER_LIVE, readonly=True)
        self.seen: dict[int, float] = {}  # message number (EXISTS) -> when announced
        self.stop = threading.Event()
        self.error = ""

    def run(self) -> None:
        try:
            self.client.idle()
            while not self.stop.is_set():
                for response in self.client.idle_check(timeout=0.2):
                    if len(response) > 1 and response[1] == b"EXISTS":
                        self.seen.setdefault(int(response[0]), time.monotonic())
            self.client.idle_done()
            self.client.logout()
        except Exception as exc:  # a benchmark helper: report, do not crash the run
            self.error = f"{type(exc).__name__}: {exc}"


def idle_latency(server: Any, tls: str, tmp: Path, live: list[gen.Generated], seed: int, interval: tuple[float, float]) -> dict[str, Any]:
    with server.client() as client:
        client.create_folder(FOLDER_LIVE)
    db = tmp / "daemon.db"
    log_path = tmp / "daemon.log"
    env = triage_env(server, tls, tmp, TRIAGE_IMAP_FOLDER=FOLDER_LIVE, TRIAGE_DB=str(db))
    cmd = [TRIAGE, "daemon"]
    t_start = time.perf_counter()
    with log_path.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    watcher = Watcher(db, proc.pid)
    watcher.start()
    result: dict[str, Any] = {"cmd": " ".join(cmd) + f"  (TRIAGE_IMAP_FOLDER={FOLDER_LIVE}, TRIAGE_DB={db})", "log": str(log_path)}
    try:
        deadline = time.monotonic() + 120
        while "imap connected" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None:
                raise SystemExit(f"triage daemon exited {proc.returncode} before connecting:\n{log_path.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise SystemExit("triage daemon did not connect within 120 s")
            time.sleep(0.05)
        result["ready_s"] = time.perf_counter() - t_start
        bare = BareIdle(server, tls)
        bare.start()
        time.sleep(1.5)  # let both enter IDLE
        rng = random.Random(seed)
        appended: dict[str, float] = {}
        with server.client() as client:
            for m in live:
                began = time.monotonic()
                client.append(FOLDER_LIVE, m.data, flags=(), msg_time=None)
                appended[m.message_id] = time.monotonic()
                pause = rng.uniform(*interval) - (time.monotonic() - began)
                if pause > 0:
                    time.sleep(pause)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(k in watcher.reply_seen for k in appended):
            time.sleep(0.05)
        time.sleep(0.2)  # a last outbox row committed with its reply
        bare.stop.set()
        bare.join(5)
        announced = [bare.seen[n + 1] - t for n, t in enumerate(appended.values()) if n + 1 in bare.seen]
        result.update(bare_n=len(announced), bare_median=statistics.median(announced) if announced else float("nan"),
                      bare_p95=percentile(announced, 95), bare_error=bare.error)
        result["vmhwm_mb"] = watcher.rss("VmHWM") / 1024
        result["vmrss_end_mb"] = watcher.rss("VmRSS") / 1024
    finally:
        watcher.stop.set()
        watcher.join(5)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    result["exit_code"] = proc.returncode
    result["max_vmrss_polled_mb"] = watcher.max_rss_kb / 1024
    latencies = [watcher.reply_seen[k] - t for k, t in appended.items() if k in watcher.reply_seen]
    outbox = [watcher.outbox_seen[k] - t for k, t in appended.items() if k in watcher.outbox_seen]
    first = next(iter(appended))
    result.update(
        appended=len(appended), decided=len(latencies), missing=len(appended) - len(latencies),
        median=statistics.median(latencies) if latencies else float("nan"), p95=percentile(latencies, 95),
        max=max(latencies, default=float("nan")), first=watcher.reply_seen.get(first, float("nan")) - appended[first],
        outbox_n=len(outbox), outbox_median=statistics.median(outbox) if outbox else float("nan"), outbox_p95=percentile(outbox, 95),
        labels=dict(Counter(watcher.labels.get(k, "(none)") for k in appended).most_common()),
        watcher_errors=watcher.errors,
    )
    result["log_summary"] = summarise_log(log_path)
    return result


def summarise_log(path: Path) -> dict[str, Any]:
    levels: Counter[str] = Counter()
    notable: list[str] = []
    other: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            other.append(line)
            continue
        levels[row.get("level", "?")] += 1
        if row.get("level") in ("warning", "error", "critical"):
            notable.append(line)
    return {"levels": dict(levels), "notable": notable[:20], "notable_count": len(notable), "non_json": other[:20], "non_json_count": len(other)}


# -- training -------------------------------------------------------------------------------

def training(tmp: Path, n: int, seed: int) -> dict[str, Any]:
    import train as bench_train  # bench/train.py: the same 1,000 perturbed replies as its cli:1000 row

    from triage import corpus
    from triage.records import LABELS

    examples, _ = corpus.load(gen.FIXTURES)
    pairs = bench_train.build([e for e in examples if e.label in LABELS], n, seed)
    path = bench_train.write_jsonl(pairs, tmp / f"train_{n}.jsonl")
    cmd = [TRIAGE, "train", str(path), "--no-grouped", "--no-ner"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env["TRIAGE_DB"] = str(tmp / "unused.db")
    out_path, err_path = tmp / "train.stdout", tmp / "train.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        result = run_child(cmd, env, stdout=out, stderr=err)
    text = out_path.read_text(errors="replace") + err_path.read_text(errors="replace")
    macro = re.search(r"macro[- ]?F1\D*([01]\.\d+)", text, re.I)
    result.update(cmd=" ".join(cmd[:2]) + f" <{n} replies as JSONL> --no-grouped --no-ner", n=n,
                  macro_f1=float(macro.group(1)) if macro else None)
    if result["code"] != 0:
        result["stderr_tail"] = err_path.read_text(errors="replace")[-2000:]
    return result


# -- the report -------------------------------------------------------------------------------

def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def report(r: dict[str, Any]) -> str:
    env = r["env"]
    lines = [
        f"## {env['date']}: `{r['command']}`",
        "",
        f"Code: {env['git']}.",
        "",
        "| machine | |",
        "|---|---|",
        f"| date (`date -u`) | {env['date']} |",
        f"| `nproc` | {env['nproc']} |",
        f"| `python -V` | {env['python']} |",
        f"| load before (`/proc/loadavg`) | {env['load_before']} |",
        f"| load after the (a)/(b) rounds, after the IDLE step, at the end | {env.get('load_after_rounds', '?')}; {env.get('load_after_idle', '?')}; {env['load_after']} |",
        f"| whole run | {r.get('total_s', 0) / 60:.1f} min |",
        f"| Dovecot | {env['dovecot']} (private instance, `mail_fsync = never`, TLS: {r['tls']}) |",
        "",
        f"Mailbox: {r['mailbox']['count']:,} generated replies (bench/generate.py, seed {r['seed']}), "
        f"{r['mailbox']['bytes'] / 1e6:.1f} MB, mean {r['mailbox']['size_mean'] / 1024:.1f} KB "
        f"({r['mailbox']['size_min'] / 1024:.1f}-{r['mailbox']['size_max'] / 1024:.1f} KB); "
        f"labels {r['mailbox']['labels']}; shapes {r['mailbox']['shapes']}; charsets {r['mailbox']['charsets']}; "
        f"encodings {r['mailbox']['ctes']}. Generated in {r['generate_s']:.1f} s; loaded with {r['load']['method']} "
        f"in {r['load']['seconds']:.1f} s ({r['load']['rate']:,.0f} msgs/s).",
        "",
        "| figure | value | target |",
        "|---|---:|---|",
        f"| (a) bare imapclient SEARCH ALL + FETCH BODY.PEEK[] (batches of {r['batch']}), median of {r['rounds']} | {fmt(r['a_median'])} msgs/s | |",
    ]
    for name, v in r["b"].items():
        lines.append(f"| (b) `triage --since 2000-01-01 --dry-run --json`{name}, median of {r['rounds']} | {fmt(v['median'])} msgs/s | |")
        lines.append(f"| ratio (b{name})/(a): of the medians / median of per-round ratios | **{v['ratio']:.3f}** / {v['paired_ratio']:.3f} | ≥ 0.5 {'met' if v['ratio'] >= 0.5 else '**not met**'} |")
        lines.append(f"| (b{name}) CPU time / wall (cores busy), peak RSS (all its processes' max) | {v['cpu_per_wall']:.2f}, {fmt(v['maxrss_mb'])} MB | both cores |")
        if r.get("startup"):
            lines.append(f"| (b{name}) rate without the fixed cost ({r['startup'][name]['wall']:.1f} s over an empty folder) | {fmt(v['net_rate'])} msgs/s | |")
    if r.get("idle"):
        i = r["idle"]
        lines += [
            f"| IDLE latency, APPEND done → `replies` row, median ({i['decided']}/{i['appended']} decided) | **{i['median']:.3f} s** | ≤ 1 s {'met' if i['median'] <= 1 else '**not met**'} |",
            f"| IDLE latency, 95th percentile / max | {i['p95']:.3f} s / {i['max']:.3f} s | |",
            f"| IDLE latency of the first reply after start | {i['first']:.3f} s | |",
            f"| baseline: a bare imapclient IDLE on the same folder sees the EXISTS, median / p95 ({i['bare_n']} seen) | {i['bare_median']:.3f} s / {i['bare_p95']:.3f} s | |",
            f"| APPEND done → `outbox` row, median / p95 ({i['outbox_n']} forwards queued) | {i['outbox_median']:.3f} s / {i['outbox_p95']:.3f} s | |",
            f"| daemon peak RSS (VmHWM) / largest VmRSS polled | **{i['vmhwm_mb']:.0f} MB** / {i['max_vmrss_polled_mb']:.0f} MB | < 300 MB {'met' if i['vmhwm_mb'] < 300 else '**not met**'} |",
        ]
    if r.get("train"):
        t = r["train"]
        lines.append(f"| `triage train` on {t['n']} replies (`--no-grouped --no-ner`), wall / CPU | **{t['wall']:.1f} s** / {t['cpu']:.1f} s | ≤ 60 s {'met' if t['wall'] <= 60 else '**not met**'} |")
    lines += ["", "Per round (msgs/s, in the order run):", "", "| round | " + " | ".join(r["round_names"]) + " |",
              "|---|" + "---:|" * len(r["round_names"])]
    for k, row in enumerate(r["round_rows"]):
        lines.append(f"| {k + 1} | " + " | ".join(fmt(x) for x in row) + " |")
    lines += ["", "Command lines:", ""]
    for cmd in r["commands"]:
        lines.append(f"- `{cmd}`")
    lines += ["", "Checks:", ""]
    for note in r["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


TITLE = "# Benchmark results: triage over IMAP (issue 7)"
INTRO = (f"{TITLE}\n\nWritten by `bench/imap.py` (see bench/README.md). Newest run first; each run keeps its own "
         "machine, load and commit, because absolute rates on this shared 2-core machine drift between runs.\n\n")


def write_results(path: Path, section: str) -> None:
    """Put this run's section first; keep the earlier runs below it."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    earlier = old.split("\n## ", 1)[1] if old.startswith(TITLE) and "\n## " in old else ""
    path.write_text(INTRO + section + ("\n## " + earlier if earlier else ""), encoding="utf-8")


# -- main ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10_000, help="replies in the mailbox (default 10,000)")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of (a) and (b) (default 3)")
    ap.add_argument("--batch", type=int, default=500, help="FETCH batch size of the bare client (default 500)")
    ap.add_argument("--tls", choices=("ssl", "none"), default="ssl", help="how both clients connect (default ssl, as triage's default)")
    ap.add_argument("--workers", default="auto", help="'auto' (1 and 2 if the CLI has --workers), 'none', or a comma list such as 1,2")
    ap.add_argument("--live", type=int, default=100, help="referral replies appended one by one for the IDLE latency (0: skip)")
    ap.add_argument("--interval", default="0.5,1.0", help="seconds between live APPENDs, drawn uniformly (default 0.5,1.0)")
    ap.add_argument("--train", type=int, default=1000, help="replies for the training time (0: skip)")
    ap.add_argument("--budget", type=float, default=10.0,
                    help="minutes the whole run should take: rounds after the first are skipped when the next would not fit "
                         "(default 10; 0: always run --rounds)")
    ap.add_argument("--results", type=Path, default=BENCH / "RESULTS.md", help="Markdown file to write (default bench/RESULTS.md)")
    ap.add_argument("--no-results", action="store_true", help="print only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (Dovecot, logs, stores)")
    args = ap.parse_args(argv)
    interval = tuple(float(x) for x in args.interval.split(","))

    from triage.testing.dovecot import Dovecot, available

    if not available():
        raise SystemExit("Dovecot or openssl is missing: apt-get install -y dovecot-imapd openssl")
    help_text = subprocess.run([TRIAGE, "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    has_workers = "--workers" in help_text
    if args.workers == "auto":
        workers: list[int | None] = [1, 2] if has_workers else [None]
    elif args.workers == "none":
        workers = [None]
    else:
        if not has_workers:
            raise SystemExit("this triage has no --workers option")
        workers = [int(x) for x in args.workers.split(",")]

    env = {"date": shell(["date", "-u"]), "nproc": shell(["nproc"]), "python": shell([sys.executable, "-V"]),
           "load_before": loadavg(), "dovecot": shell(["dovecot", "--version"]),
           "git": shell(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])}
    dirty = shell(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    env["git"] = f"HEAD `{env['git']}`" + (f" plus uncommitted changes to {len(dirty.splitlines())} tracked files" if dirty else "")
    command = ".venv/bin/python bench/imap.py" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(sys.argv[1:] if argv is None else argv))
    log(f"{env['date']}; nproc {env['nproc']}; {env['python']}; load {env['load_before']}; triage --workers: {'yes' if has_workers else 'no'}")

    run_started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-imap-"))
    server = Dovecot(tmp / "dovecot")
    notes: list[str] = []
    result: dict[str, Any] = {"env": env, "command": command, "seed": args.seed, "rounds": args.rounds, "batch": args.batch, "tls": args.tls}
    try:
        log(f"starting Dovecot in {tmp}")
        server.start()
        with server.client() as client:
            client.create_folder(FOLDER_EMPTY)

        log(f"generating {args.count:,} replies")
        t0 = time.perf_counter()
        pieces = gen.load_pieces()
        messages = gen.generate(args.count, seed=args.seed, pieces=pieces, processes=2)
        result["generate_s"] = time.perf_counter() - t0
        result["mailbox"] = gen.describe(messages)
        log(f"generated in {result['generate_s']:.1f} s: {result['mailbox']['bytes'] / 1e6:.1f} MB, mean {result['mailbox']['size_mean'] / 1024:.1f} KB")

        result["load"] = load_mailbox(server, args.tls, messages)
        log(f"loaded with {result['load']['method']}: {result['load']['rate']:,.0f} msgs/s ({result['load']['seconds']:.1f} s)")

        names = [f" --workers {w}" if w else "" for w in workers]
        result["startup"] = {}
        for w, name in zip(workers, names):
            result["startup"][name] = empty_oneshot(server, args.tls, tmp, w)
            log(f"one-shot over an empty folder{name}: {result['startup'][name]['wall']:.2f} s (exit {result['startup'][name]['code']})")

        a_runs: list[dict[str, Any]] = []
        b_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        round_rows = []
        round_started = time.perf_counter()
        reserve = (args.live * sum(interval) / 2 + 15 if args.live else 0) + (40 if args.train else 0)
        for k in range(args.rounds):
            if k and args.budget:
                last = time.perf_counter() - round_started
                if time.perf_counter() - run_started + last + reserve > args.budget * 60:
                    notes.append(f"only {k} of {args.rounds} rounds: one more ({last:.0f} s) would not fit the --budget of {args.budget:g} min "
                                 f"(about {reserve:.0f} s are kept for the IDLE and training steps); --budget 0 runs them all")
                    log(f"stopping after {k} round(s): the next would not fit the {args.budget:g}-minute budget")
                    break
            round_started = time.perf_counter()
            row = []
            a = bare_fetch(server, args.tls, args.batch)
            if a["count"] != args.count:
                notes.append(f"round {k + 1}: the bare fetch read {a['count']} messages, not {args.count}")
            a_runs.append(a)
            row.append(a["rate"])
            log(f"round {k + 1}: (a) bare fetch {a['rate']:,.0f} msgs/s ({a['wall']:.1f} s, {a['bytes'] / 1e6:.0f} MB)")
            order = list(zip(workers, names))
            if k % 2:
                order.reverse()  # alternate which variant runs right after (a)
            for w, name in order:
                b = triage_oneshot(server, args.tls, tmp, w, args.count, tag=f"r{k + 1}{name.replace(' ', '')}", keep_json=k == 0)
                b_runs[name].append(b)
                log(f"round {k + 1}: (b){name} triage {b['rate']:,.0f} msgs/s ({b['wall']:.1f} s, CPU {b['cpu']:.1f} s, "
                    f"peak RSS {b['maxrss_mb']:.0f} MB, exit {b['code']}, {len(b['stderr_lines'])} stderr lines)")
            row += [b_runs[name][-1]["rate"] for name in names]
            round_rows.append(row)
        result["rounds"] = len(a_runs)
        result["round_names"] = ["(a) bare fetch"] + [f"(b){name}" for name in names]
        result["round_rows"] = round_rows
        result["a_median"] = statistics.median(a["rate"] for a in a_runs)
        result["b"] = {}
        for name, runs in b_runs.items():
            med = statistics.median(b["rate"] for b in runs)
            med_wall = statistics.median(b["wall"] for b in runs)
            startup = result["startup"][name]["wall"]
            result["b"][name] = {
                "median": med,
                "ratio": med / result["a_median"],
                "paired_ratio": statistics.median(b["rate"] / a["rate"] for a, b in zip(a_runs, runs)),
                "cpu_per_wall": statistics.median(b["cpu"] / b["wall"] for b in runs),
                "maxrss_mb": max(b["maxrss_mb"] for b in runs),
                "net_rate": args.count / (med_wall - startup) if med_wall > startup else float("nan"),
                "codes": [b["code"] for b in runs],
            }
            first = runs[0]
            check = check_json(first["json"], messages)
            result["b"][name]["check"] = check
            stderr_sample = [line for line in first["stderr_lines"] if line.strip()][:5]
            notes.append(f"(b){name} round 1 (its stdout kept in a file for this check): {check['records']:,} JSON records for "
                         f"{args.count:,} messages; exit codes {[b['code'] for b in runs]}; stderr lines {[len(b['stderr_lines']) for b in runs]}"
                         + (f", first: {stderr_sample}" if stderr_sample else ""))
            notes.append(f"(b){name} labels vs the label of the fixture each message's new text came from: {check['agree']:,}/{check['records']:,} agree; "
                         f"referrals with a contact {check['referral_with_contact']:,}, with a forward {check['referral_with_forward']:,}; "
                         f"disagreements: { {k: v for k, v in check['confusion'].items() if k.split('->')[0] != k.split('->')[1]} }")
        env["load_after_rounds"] = loadavg()
        for name, v in result["b"].items():
            log(f"(a) {result['a_median']:,.0f} msgs/s; (b){name} {v['median']:,.0f} msgs/s; ratio {v['ratio']:.3f} (paired {v['paired_ratio']:.3f})")

        commands = [f"(a) in process: imapclient login, select_folder('INBOX', readonly=True), search(['ALL']), fetch(uids[i:i+{args.batch}], ['BODY.PEEK[]'])"]
        commands += [b_runs[name][0]["cmd"].replace(TRIAGE, ".venv/bin/triage") + "  (env: the harness's TRIAGE_IMAP_* for INBOX; stdout > /dev/null)" for name in names]

        if args.live:
            log(f"IDLE latency: triage daemon on '{FOLDER_LIVE}', {args.live} referral replies one every {interval[0]}-{interval[1]} s")
            live = gen.generate(args.live, seed=args.seed + 1, labels=("referral",), id_prefix="live", require_contact_email=True, pieces=pieces)
            idle = idle_latency(server, args.tls, tmp, live, args.seed, interval)
            result["idle"] = idle
            commands.append(idle["cmd"].replace(TRIAGE, ".venv/bin/triage"))
            log(f"IDLE: median {idle['median']:.3f} s, p95 {idle['p95']:.3f} s, max {idle['max']:.3f} s, first {idle['first']:.3f} s; "
                f"bare IDLE median {idle['bare_median']:.3f} s; {idle['decided']}/{idle['appended']} decided; outbox {idle['outbox_n']}; VmHWM {idle['vmhwm_mb']:.0f} MB; exit {idle['exit_code']}")
            ls = idle["log_summary"]
            notes.append(f"daemon: ready (logged 'imap connected') {idle['ready_s']:.1f} s after spawn; exit code after SIGTERM {idle['exit_code']}; "
                         f"labels of the {idle['appended']} referrals: {idle['labels']}; log levels {ls['levels']}; "
                         f"{ls['notable_count']} warning/error lines, {ls['non_json_count']} non-JSON lines")
            for line in (ls["notable"] + ls["non_json"])[:6]:
                notes.append(f"daemon log: `{line[:300]}`")

        env["load_after_idle"] = loadavg() if args.live else "(skipped)"
        if args.train:
            log(f"training: triage train on {args.train} replies")
            t = training(tmp, args.train, 7)
            result["train"] = t
            commands.append(t["cmd"].replace(TRIAGE, ".venv/bin/triage"))
            log(f"training: {t['wall']:.1f} s wall, {t['cpu']:.1f} s CPU, exit {t['code']}")
            if t["code"] != 0:
                notes.append(f"triage train exited {t['code']}: {t.get('stderr_tail', '')[-500:]}")
            notes.append(f"triage train: cross-validated macro-F1 printed {t['macro_f1']} (inflated: perturbed copies of one reply fall in both folds; bench/README.md)")

        result["commands"] = commands
        result["notes"] = notes
        dovecot_log = server.root / "dovecot.log"
        if dovecot_log.exists():
            bad = [line for line in dovecot_log.read_text(errors="replace").splitlines() if re.search(r"\b(Error|Fatal|Panic|Warning)\b", line)]
            notes.append(f"Dovecot's log: {len(bad)} error/warning lines" + (f", first: `{bad[0][:200]}`" if bad else ""))
    finally:
        server.stop()
        env["load_after"] = loadavg()
        result["total_s"] = time.perf_counter() - run_started
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    text = report(result)
    print(text)
    if not args.no_results:
        write_results(args.results, text)
        log(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
