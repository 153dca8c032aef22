"""The proxy table: every zero-cost proxy of every NAS-Bench-201 cell, resumable.

The simulator's tabular estimators replay measured proxies; this job measures them. Cells
are visited in one seeded random permutation of the 15,625 cells of
:class:`cenas.space.NB201Space` (so any prefix of the order is a uniform random sample of
the space), and shard ``I`` of ``N`` takes every ``N``-th cell of that order starting at
``I``. Each finished cell is appended (flushed and synced) as one CSV row to
``DIR/shard-I.csv``: columns ``index`` (the official NAS-Bench-201 index), ``arch_str``,
then ``<proxy>`` and ``<proxy>_s`` (seconds per proxy, after one untimed warm-up pass of
every proxy on a small network) for each proxy. On a GPU the seconds are wall time
(``time.perf_counter``, device synchronised); on a CPU they are CPU time (:func:`cpu_clock`),
so that a core shared with other work or a job paused with SIGSTOP does not inflate them
(the runs before 2026-12-02 used wall time on CPU too; each run's clock is in the
provenance). A killed job loses at most the cell it was on: a rerun
reads the file, drops a truncated last line and skips every cell already there. With
``remeasure_over`` a run first measures again the cells whose seconds for some proxy exceed
that many times the proxy's median in the file, appending new rows; the last row of a cell
is the one that counts. A job over another proxy set writes ``DIR/shard-I.<p1>-<p2>.csv``
beside it (the fast ``params,flops`` fill). ``DIR/provenance.json`` records the
configuration, the data (path, sha256, and the sha256 of the batch's pixels and labels),
torch and Python versions, the git commit, device and threads of every run; a rerun whose
configuration differs from the folder's is refused rather than mixed in.

:func:`ship_table` merges the shards into the package's
``cenas/data/nb201/nb201_proxies.csv.gz`` (sorted by index; a cell not measured is absent
and a proxy not measured is empty) and ``nb201_proxies.json`` (provenance, coverage, median
seconds per proxy).

Proxies and their definitions: :mod:`cenas.estimators._proxies`.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from cenas._git import git_commit as _git_commit
from cenas.datasets import ImageSet
from cenas.errors import CenasError
from cenas.estimators._proxies import (
    DEFAULT_BATCH_SIZE,
    PROXIES,
    ProxyBatch,
    compute_proxy,
    make_batch,
    nb201_factory,
)
from cenas.space import NB201Space

TABLE_PROXIES: tuple[str, ...] = tuple(p for p in PROXIES if p not in ("params", "flops"))
"""The proxies a table job computes by default (``params`` and ``flops`` have a fast mode)."""

MIXED_CELL = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)
"""A cell with every operation, for the warm-up."""

SHIPPED_CSV = "nb201_proxies.csv.gz"
SHIPPED_JSON = "nb201_proxies.json"


class TableError(CenasError):
    """A proxy-table folder or option that cannot be used."""


@dataclass(frozen=True)
class TableConfig:
    """What every row of one table folder shares; a folder never mixes two configurations.

    Attributes:
        channels: ``C`` of the networks (16 in NAS-Bench-201).
        cells_per_stage: ``N`` of the networks (5).
        batch_size: Images in the proxies' batch (64).
        batch_seed: Seed of the batch draw from the training split.
        init_seed: Seed of every network's initialisation.
        order_seed: Seed of the permutation of the cells.
        dataset: ``cifar10`` or ``cifar100``.
        num_classes: Classifier outputs.
    """

    channels: int = 16
    cells_per_stage: int = 5
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_seed: int = 0
    init_seed: int = 0
    order_seed: int = 0
    dataset: str = "cifar10"
    num_classes: int = 10


def cell_order(order_seed: int = 0) -> np.ndarray:
    """The seeded permutation of the space's enumeration indices the job visits."""
    rng = np.random.default_rng(order_seed)
    return rng.permutation(NB201Space().size)


def shard_cells(shard: int, num_shards: int, order_seed: int = 0) -> np.ndarray:
    """Enumeration indices of shard ``shard`` of ``num_shards``: every N-th of the order."""
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise TableError(f"--shard: expected I/N with 0 <= I < N, got {shard}/{num_shards}")
    return cell_order(order_seed)[shard::num_shards]


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)``.

    Raises:
        TableError: If the text is not two integers ``0 <= I < N``.
    """
    parts = text.split("/")
    try:
        shard, num = (int(p) for p in parts)
    except ValueError:
        raise TableError(f"--shard: expected I/N such as 0/4, got {text!r}") from None
    shard_cells(shard, num)  # validates
    return shard, num


def parse_proxies(text: str | None) -> tuple[str, ...]:
    """A comma-separated proxy list (``None`` for :data:`TABLE_PROXIES`).

    Raises:
        TableError: For an unknown or repeated name.
    """
    if text is None or not text.strip():
        return TABLE_PROXIES
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in PROXIES]
    if unknown:
        raise TableError(
            f"--proxies: unknown {', '.join(unknown)}; choose from {', '.join(PROXIES)}"
        )
    if len(set(names)) != len(names):
        raise TableError(f"--proxies: a name is repeated in {text!r}")
    return names


def shard_path(out: Path, shard: int, proxies: Sequence[str]) -> Path:
    """``out/shard-I.csv`` for the default proxies, ``out/shard-I.<p1>-<p2>.csv`` otherwise."""
    if tuple(proxies) == TABLE_PROXIES:
        return out / f"shard-{shard}.csv"
    return out / f"shard-{shard}.{'-'.join(proxies)}.csv"


def columns(proxies: Sequence[str]) -> list[str]:
    """The CSV header of a shard file."""
    cols = ["index", "arch_str"]
    for p in proxies:
        cols += [p, f"{p}_s"]
    return cols


def _complete_rows(raw: bytes, proxies: Sequence[str], path: Path) -> tuple[set[str], int]:
    """Cells of the complete rows of a shard file's bytes, and the bytes they span."""
    header = (",".join(columns(proxies)) + "\n").encode()
    if not raw or (header.startswith(raw) and len(raw) < len(header)):
        return set(), 0
    if not raw.startswith(header):
        first = raw.split(b"\n", 1)[0].decode(errors="replace")
        raise TableError(
            f"{path}: header {first!r} is not this job's ({header.decode().strip()!r})"
        )
    done: set[str] = set()
    n_fields = len(columns(proxies))
    pos = good_end = len(header)
    while pos < len(raw):
        nl = raw.find(b"\n", pos)
        if nl < 0:
            break
        fields = next(csv.reader([raw[pos:nl].decode(errors="replace")]), [])
        if len(fields) != n_fields or not _row_ok(fields):
            break
        done.add(fields[1])
        pos = good_end = nl + 1
    return done, good_end


def read_done(path: Path, proxies: Sequence[str]) -> set[str]:
    """The ``arch_str`` of every complete row of a shard file; repairs a truncated end.

    A last line without its newline, or any line that does not parse into the header's
    fields, ends the file: it is cut off there (the cell is redone). Only the job that
    writes the file may call this (:func:`merge_shards` reads without cutting).

    Raises:
        TableError: If the file's header is not this job's.
    """
    if not path.exists():
        return set()
    raw = path.read_bytes()
    done, good_end = _complete_rows(raw, proxies, path)
    if good_end < len(raw):
        with path.open("r+b") as fh:
            fh.truncate(good_end)
    return done


def done_in_other_shards(out: Path, path: Path, proxies: Sequence[str]) -> set[str]:
    """Cells that the folder's other shard files of the same proxies already hold.

    A folder can be resumed with another shard layout (one process, then two): a cell
    measured under any layout is not measured again. Other files are read, never cut.
    """
    pattern = shard_path(out, 0, proxies).name.replace("shard-0", "shard-*", 1)
    done: set[str] = set()
    for other in sorted(out.glob(pattern)):
        if other == path or other.name.count(".") != path.name.count("."):
            continue
        cells, _ = _complete_rows(other.read_bytes(), proxies, other)
        done |= cells
    return done


def _row_ok(fields: list[str]) -> bool:
    try:
        int(fields[0])
        NB201Space().from_str(fields[1])
        for value in fields[2:]:
            float(value)
    except ValueError:
        return False
    return True


def file_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's sorted relative paths and file hashes."""
    digest = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(f.relative_to(path)).encode())
            digest.update(file_sha256(f).encode())
        return digest.hexdigest()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def batch_sha256(batch: ProxyBatch) -> str:
    """sha256 of the batch's normalised pixels (float32) and labels: names the batch exactly."""
    digest = hashlib.sha256()
    digest.update(batch.inputs.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    digest.update(batch.targets.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return digest.hexdigest()


def git_commit() -> str:
    """The source tree's git commit (``+dirty`` with local code changes), or ``unknown``."""
    return _git_commit() or "unknown"


def _load_provenance(out: Path) -> dict[str, Any]:
    path = out / "provenance.json"
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TableError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(loaded, dict):
        raise TableError(f"{path}: expected a JSON object")
    return loaded


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class TableRun:
    """What one call of :func:`run_table` did.

    Attributes:
        path: The shard file.
        done_before: Cells of the shard (within ``limit``) already measured when the run
            began, in this shard's file or another shard file of the folder.
        written: Rows this run wrote (new cells and cells measured again).
        remaining: Cells of the shard (within ``limit``) still missing at the end.
        seconds: Wall seconds of the run.
        remeasured: Of ``written``, the cells measured again (``remeasure_over``).
    """

    path: Path
    done_before: int
    written: int
    remaining: int
    seconds: float
    remeasured: int = 0


def _fmt(value: float) -> str:
    return repr(float(value))


def run_table(
    data: ImageSet,
    out: Path,
    shard: tuple[int, int] = (0, 1),
    limit: int | None = None,
    device: str = "cpu",
    proxies: Sequence[str] = TABLE_PROXIES,
    config: TableConfig | None = None,
    data_path: Path | None = None,
    log: Callable[[str], None] | None = None,
    remeasure_over: float | None = None,
) -> TableRun:
    """Measure ``proxies`` for the cells of one shard, appending to its file as it goes.

    Args:
        data: Training images the batch is drawn from.
        out: Table folder (created).
        shard: ``(I, N)``.
        limit: Only the first ``limit`` cells of the shard's order (``None``: all).
        device: ``cpu`` or ``cuda``.
        proxies: Proxies to compute (names of :data:`cenas.estimators._proxies.PROXIES`).
        config: Networks, seeds and data set; defaults to C=16, N=5, seeds 0 and ``data``'s
            data set and classes.
        data_path: Where ``data`` was read from (for the provenance; hashed).
        log: Called with a progress line after each cell.
        remeasure_over: Measure again, first, the shard's cells already in its file whose
            seconds for some proxy exceed this many times that proxy's median there (wall
            times of a shared or paused CPU); ``None``: none.

    Returns:
        What the run did.

    Raises:
        TableError: On a bad option, or a folder made with another configuration.
    """
    started = time.perf_counter()
    cfg = config or TableConfig(dataset=data.dataset, num_classes=data.num_classes)
    if limit is not None and limit < 0:
        raise TableError(f"--limit: must be >= 0, got {limit}")
    if remeasure_over is not None and not remeasure_over > 1.0:
        raise TableError(f"--remeasure-over: must be > 1, got {remeasure_over}")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise TableError(f"--device: expected cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TableError("--device cuda: no CUDA device is available")
    dev = torch.device(device)
    clock = cpu_clock() if dev.type == "cpu" else time.perf_counter
    cells = shard_cells(shard[0], shard[1], cfg.order_seed)
    if limit is not None:
        cells = cells[:limit]
    out.mkdir(parents=True, exist_ok=True)
    batch = make_batch(data, cfg.batch_size, cfg.batch_seed, dev)
    config_record = {**asdict(cfg), "batch_sha256": batch_sha256(batch)}

    prov = _load_provenance(out)
    if prov and prov.get("config") != config_record:
        raise TableError(
            f"{out / 'provenance.json'}: the folder holds another configuration "
            f"({prov.get('config')}); use a new --out folder"
        )
    run_record = {
        "start_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "shard": f"{shard[0]}/{shard[1]}",
        "limit": limit,
        "proxies": list(proxies),
        "device": str(dev),
        "clock": clock.__name__,
        "remeasure_over": remeasure_over,
        "device_name": torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "pid": os.getpid(),
        "data_path": str(data_path) if data_path is not None else data.source,
        "data_sha256": file_sha256(data_path) if data_path is not None else None,
    }
    prov = _load_provenance(out)
    prov.setdefault("config", config_record)
    prov.setdefault(
        "data",
        {
            "path": run_record["data_path"],
            "sha256": run_record["data_sha256"],
            "dataset": data.dataset,
            "split_images": len(data),
            "batch_indices": list(batch.indices),
        },
    )
    prov["runs"] = [*prov.get("runs", []), run_record]
    _write_json(out / "provenance.json", prov)

    path = shard_path(out, shard[0], proxies)
    done = read_done(path, proxies) | done_in_other_shards(out, path, proxies)
    table = _official_index()
    space = NB201Space()
    archs = [space.to_str(space.from_index(int(c))) for c in cells]
    done_before = sum(1 for a in archs if a in done)
    redo = slow_cells(path, proxies, remeasure_over) if remeasure_over is not None else set()
    pairs = list(zip(cells, archs, strict=True))
    todo = [(c, a, True) for c, a in pairs if a in redo]  # measured again first
    todo += [(c, a, False) for c, a in pairs if a not in done]
    written = remeasured = 0
    new_file = not path.exists() or path.stat().st_size == 0
    if todo:
        _warm_up(proxies, cfg, batch)
    with path.open("a", encoding="utf-8", newline="") as fh:
        if new_file:
            fh.write(",".join(columns(proxies)) + "\n")
            fh.flush()
        for cell, arch, again in todo:
            factory = nb201_factory(
                arch, cfg.channels, cfg.cells_per_stage, cfg.num_classes, cfg.init_seed
            )
            fields = [str(int(table[int(cell)])), arch]
            for name in proxies:
                try:
                    score, seconds = compute_proxy(name, factory, batch, clock)
                except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
                    if log is not None:
                        log(f"{arch}: {name} failed: {' '.join(str(exc).split())[:200]}")
                    score, seconds = math.nan, math.nan
                fields += [_fmt(score), _fmt(seconds)]
            fh.write(",".join(fields) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            done.add(arch)
            written += 1
            remeasured += again
            if log is not None:
                elapsed = time.perf_counter() - started
                what = "measured again" if again else f"{done_before + written - remeasured} done"
                log(f"{what}, {written} this run, {elapsed:.0f} s, {arch}")
    remaining = sum(1 for c in cells if space.to_str(space.from_index(int(c))) not in done)
    return TableRun(
        path, done_before, written, remaining, time.perf_counter() - started, remeasured
    )


def cpu_clock() -> Callable[[], float]:
    """The clock of a CPU measurement: the calling thread's CPU time when torch computes on
    that one thread (``time.thread_time``: other threads' work, such as OpenMP workers left
    spinning by earlier parallel code, is not this job's), else the whole process's
    (``time.process_time``, core-seconds over torch's threads)."""
    return time.thread_time if torch.get_num_threads() == 1 else time.process_time


REMEASURE_MIN_EXCESS_S = 1.0
"""A cell is measured again only if it is also this many seconds over the median: a
proxy of milliseconds that jitters past the factor is not worth a new row."""


def _last_rows(path: Path, proxies: Sequence[str]) -> pd.DataFrame | None:
    """The complete rows of a shard file, the last one of each cell (a cell measured again
    has several); ``None`` when it holds none. Reads, never cuts (the job may be writing)."""
    raw = path.read_bytes()
    _done, good_end = _complete_rows(raw, proxies, path)
    if good_end == 0:
        return None
    frame = pd.read_csv(io.BytesIO(raw[:good_end]), dtype={"arch_str": str})
    return frame.drop_duplicates("arch_str", keep="last")


def slow_cells(path: Path, proxies: Sequence[str], factor: float) -> set[str]:
    """Cells of a shard file whose last row's seconds for some proxy exceed ``factor``
    times that proxy's median over the file's cells (their last rows), and the median by
    at least :data:`REMEASURE_MIN_EXCESS_S`."""
    frame = _last_rows(path, proxies) if path.exists() else None
    if frame is None:
        return set()
    secs = frame[[f"{p}_s" for p in proxies]]
    median = secs.median()
    slow = ((secs > factor * median) & (secs > median + REMEASURE_MIN_EXCESS_S)).any(axis=1)
    return set(frame.loc[slow, "arch_str"])


def _warm_up(proxies: Sequence[str], cfg: TableConfig, batch: ProxyBatch) -> None:
    """Run each proxy once, untimed, on a small network, so one-time costs (lazy imports,
    kernel selection, the FLOP counter's first use) stay out of the first row's seconds."""
    factory = nb201_factory(MIXED_CELL, 4, 1, cfg.num_classes, cfg.init_seed)
    small = ProxyBatch(batch.inputs[:8], batch.targets[:8], batch.indices[:8], batch.seed)
    for name in proxies:
        with contextlib.suppress(RuntimeError, ValueError, np.linalg.LinAlgError):
            compute_proxy(name, factory, small)


def _official_index() -> np.ndarray:
    from cenas.bench import load_nb201_table

    return load_nb201_table()["index"].to_numpy()


def merge_shards(src: Path) -> pd.DataFrame:
    """All shard files of a folder merged by cell: columns ``index``, ``arch_str`` and
    ``<proxy>``, ``<proxy>_s`` for every proxy (NaN where not measured), sorted by index.

    Raises:
        TableError: If the folder has no shard file.
    """
    files = sorted(src.glob("shard-*.csv"))
    if not files:
        raise TableError(f"{src}: no shard-*.csv files to merge")
    merged: pd.DataFrame | None = None
    for f in files:
        header = f.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
        proxies = [c for c in header[2:] if not c.endswith("_s")]
        frame = _last_rows(f, proxies)
        if frame is None:
            continue
        if merged is None:
            merged = frame
        else:
            merged = merged.merge(
                frame, on=["index", "arch_str"], how="outer", suffixes=("", "__new")
            )
            for col in list(merged.columns):
                if col.endswith("__new"):
                    base = col[: -len("__new")]
                    merged[base] = merged[base].combine_first(merged[col])
                    merged = merged.drop(columns=col)
    if merged is None:
        raise TableError(f"{src}: the shard files hold no complete row yet")
    for p in PROXIES:
        for col in (p, f"{p}_s"):
            if col not in merged.columns:
                merged[col] = np.nan
    merged = merged[columns(PROXIES)].sort_values("index").reset_index(drop=True)
    merged["index"] = merged["index"].astype(np.int64)
    return merged


def package_data_dir() -> Path:
    """``cenas/data/nb201`` of the installed (editable) package."""
    import cenas

    return Path(cenas.__file__).resolve().parent / "data" / "nb201"


def ship_table(src: Path, dest: Path | None = None) -> dict[str, Any]:
    """Merge the shards of ``src`` into ``dest/nb201_proxies.csv.gz`` and ``.json``.

    A proxy was measured on a cell when its ``<proxy>_s`` is present; its score may still be
    NaN where the proxy is undefined (``jacob_cov`` of a cell whose output ignores its
    input), counted in ``undefined_scores``. ``coverage`` counts measured cells.

    Returns:
        The JSON record written (provenance, coverage, median seconds).
    """
    dest = dest or package_data_dir()
    table = merge_shards(src)
    prov = _load_provenance(src)
    coverage = {p: int(table[f"{p}_s"].notna().sum()) for p in PROXIES}
    undefined = {p: int((table[f"{p}_s"].notna() & table[p].isna()).sum()) for p in PROXIES}
    medians = {
        p: (float(table[f"{p}_s"].median()) if table[f"{p}_s"].notna().any() else None)
        for p in PROXIES
    }
    record = {
        "description": "Zero-cost proxies of NAS-Bench-201 cells at initialisation, measured "
        "by `cenas estimators table` (definitions: cenas.estimators._proxies).",
        "cells": len(table),
        "space_size": NB201Space().size,
        "coverage": coverage,
        "undefined_scores": undefined,
        "coverage_note": "coverage counts measured cells (<proxy>_s present); "
        "undefined_scores counts those whose score is NaN because the proxy is undefined "
        "there (jacob_cov of a cell whose output does not depend on its input)",
        "median_seconds": medians,
        "provenance": prov,
        "shipped_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    dest.mkdir(parents=True, exist_ok=True)
    text = table.to_csv(index=False, float_format="%.17g")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    (dest / SHIPPED_CSV).write_bytes(buf.getvalue())
    _write_json(dest / SHIPPED_JSON, record)
    return record


__all__ = [
    "SHIPPED_CSV",
    "SHIPPED_JSON",
    "TABLE_PROXIES",
    "TableConfig",
    "TableError",
    "TableRun",
    "batch_sha256",
    "cell_order",
    "columns",
    "cpu_clock",
    "file_sha256",
    "merge_shards",
    "package_data_dir",
    "parse_proxies",
    "parse_shard",
    "read_done",
    "run_table",
    "shard_cells",
    "shard_path",
    "ship_table",
    "slow_cells",
]
