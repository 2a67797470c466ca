"""Shared helpers for the benchmarks in ``bench/``: fixtures, paired timing, tables.

Every benchmark times its variants *interleaved* in the same process: each
round runs every variant once (in a rotated order), and a variant's ratio to
the baseline is the median of the per-round ratios.  On a noisy two-core
machine this pairing cancels most of the drift that absolute numbers suffer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "emails"
MODELS = ROOT / "models"


def arguments(doc: str, *, rounds: int, profile: str, rounds_help: str = "interleaved timing rounds") -> argparse.ArgumentParser:
    """The command line every timing script shares: its docstring as help, --rounds, --profile N and --json.

    ``profile`` says what --profile profiles; the script adds its own options.
    """
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], epilog=doc.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=rounds, help=f"{rounds_help} (default {rounds})")
    ap.add_argument("--profile", type=int, metavar="N", default=0, help=f"also cProfile {profile}, print the top N")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    return ap


def limit_threads(n: int) -> None:
    """Cap BLAS/OpenMP threads; must run before numpy is first imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)


@dataclass(frozen=True)
class Fixture:
    path: Path
    data: bytes
    meta: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.meta.get("label") or self.path.parent.name)

    @property
    def language(self) -> str:
        return str(self.meta.get("language") or "unknown")


def load_fixtures(root: Path = FIXTURES, labels: Sequence[str] | None = None) -> list[Fixture]:
    """Every ``.eml`` under ``root`` with the ``.json`` beside it, sorted by path."""
    out = []
    for path in sorted(root.rglob("*.eml")):
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        fx = Fixture(path, path.read_bytes(), meta)
        if labels is None or fx.label in labels:
            out.append(fx)
    return out


@dataclass
class Timing:
    name: str
    seconds: list[float] = field(default_factory=list)  # one entry per round
    items: int = 1  # items processed per round (messages, replies, docs)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def us_per_item(self) -> float:
        return self.median / self.items * 1e6

    @property
    def per_second(self) -> float:
        return self.items / self.median


def interleaved(variants: dict[str, Callable[[], int]], rounds: int, *, warmup: int = 1) -> dict[str, Timing]:
    """Run each variant once per round in a rotated order; the callable returns its item count."""
    names = list(variants)
    timings = {name: Timing(name) for name in names}
    for _ in range(warmup):
        for name in names:
            variants[name]()
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            n = variants[name]()
            timings[name].seconds.append(time.perf_counter() - t0)
            timings[name].items = n
    return timings


def paired_ratio(a: Timing, b: Timing) -> float:
    """Median over rounds of (time per item of a) / (time per item of b)."""
    return statistics.median((x / a.items) / (y / b.items) for x, y in zip(a.seconds, b.seconds))


def spread(t: Timing) -> float:
    """Relative spread of a variant's rounds: (max - min) / median."""
    return (max(t.seconds) - min(t.seconds)) / t.median if t.median else 0.0


def environment() -> dict[str, Any]:
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def print_env(env: dict[str, Any]) -> None:
    print(f"# {env['date_utc']}  nproc={env['nproc']}  python {env['python']}  load {env['loadavg']}")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, out: Any = None) -> None:
    """A plain aligned text table (numbers right-aligned)."""
    out = out or sys.stdout
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_num(row[i]) for row in rows) if rows else False for i in range(len(headers))]
    for k, row in enumerate(cells):
        line = "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
        print(line.rstrip(), file=out)
        if k == 0:
            print("  ".join("-" * w for w in widths), file=out)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        if abs(v) >= 0.01:
            return f"{v:.2f}"
        return f"{v:.2g}"
    return str(v)


def profile(fn: Callable[[], Any], *, top: int = 5, title: str = "") -> list[dict[str, Any]]:
    """cProfile ``fn`` once; print and return the ``top`` functions by self time, with their share."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = filename
        for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
            if marker in filename:
                short = filename.split(marker, 1)[1]
                break
        rows.append({"function": f"{short}:{line}({func})", "calls": ncalls, "self_s": tottime, "cum_s": cumtime,
                     "self_share": tottime / total if total else 0.0, "cum_share": cumtime / total if total else 0.0})
    rows.sort(key=lambda r: r["self_s"], reverse=True)
    rows = rows[:top]
    print(f"\ncProfile{': ' + title if title else ''} (total {total:.2f} s; top {top} by self time)")
    table(["function", "calls", "self s", "self share", "cum share"],
          [[r["function"], r["calls"], r["self_s"], f"{r['self_share']:.1%}", f"{r['cum_share']:.1%}"] for r in rows])
    return rows


def dump_json(payload: dict[str, Any]) -> None:
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False, default=str)
    print()
