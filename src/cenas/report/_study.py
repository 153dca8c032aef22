"""The report of one study: PNG figures and ``report.html``, read from ``study.db``."""

from __future__ import annotations

import html
import json
import sqlite3
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from cenas.bench import get_task
from cenas.errors import StudyError
from cenas.optimize.hypervolume import pareto_front


def _read(db: Path) -> tuple[dict[str, str], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The study's metadata, steps, architectures and energy by meter.

    Raises:
        StudyError: One line if the database is damaged or cannot be read.
    """
    from cenas.study import integrity_problem

    try:
        conn = sqlite3.connect(db)
    except sqlite3.DatabaseError as exc:
        raise StudyError(f"{db}: cannot read the study database ({exc})") from None
    try:
        problem = integrity_problem(conn)
        if problem is not None:
            raise StudyError(f"{db}: damaged study database (SQLite integrity check: {problem})")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        steps = pd.read_sql_query("SELECT * FROM steps ORDER BY step", conn)
        archs = pd.read_sql_query("SELECT * FROM archs", conn)
        cols = {r[1] for r in conn.execute("PRAGMA table_info(ledger)").fetchall()}
        meter = "meter, measured" if "meter" in cols else "'model' AS meter, 0 AS measured"
        energy = pd.read_sql_query(
            f"SELECT {meter}, kind, SUM(seconds) AS seconds, SUM(energy_j) AS energy_j, "
            "SUM(carbon_g) AS carbon_g FROM ledger GROUP BY meter, measured, kind",
            conn,
        )
        cost = pd.read_sql_query(
            "SELECT j.arch AS arch, SUM(l.seconds) AS seconds, SUM(l.energy_j) AS energy_j, "
            "SUM(l.carbon_g) AS carbon_g FROM ledger l JOIN jobs j ON l.job_id = j.id "
            "WHERE j.kind != 'init' GROUP BY j.arch",
            conn,
        )
        archs = archs.merge(cost, on="arch", how="left")
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise StudyError(f"{db}: cannot read the study database ({exc})") from None
    finally:
        conn.close()
    return meta, steps, archs, energy


_DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}


def axis_labels(dataset: str, device: str) -> tuple[str, str]:
    """Axis labels, with units, of a task's accuracy and latency."""
    name = _DATASETS.get(dataset, dataset)
    dev = device.upper() if device in ("fpga", "eyeriss") else device.replace("_", " ")
    return f"{name} test accuracy after 200 epochs (%)", f"latency on {dev} (ms)"


def fmt_value(value: Any) -> str:
    """A config or summary value for the report: floats rounded to six significant
    digits, ``None`` as a dash, mappings and lists spelled out, strings unquoted."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value)
    return str(value)


def arch_html(arch: str) -> str:
    """An NB201 cell string as one line per node (``|op~input|`` groups joined by ``+``),
    so that the architecture column fits the page; a DARTS genotype as its normal and its
    reduction cell on two lines."""
    if arch.startswith("Genotype("):
        parts = arch.replace(", reduce=", "|reduce=", 1).split("|")
        return "<br>".join(f"<code>{html.escape(p)}</code>" for p in parts)
    return "<br>".join(f"<code>{html.escape(node)}</code>" for node in arch.split("+"))


def _window(config: dict[str, Any], steps: pd.DataFrame) -> str:
    label = config.get("trace") or f"bundled {config.get('zone')}"
    if config.get("start"):
        first = pd.Timestamp(config["start"])
    elif len(steps):  # studies stored before the resolved start was recorded
        first = pd.Timestamp(steps["hour_utc"].iloc[0])
    else:
        return f"{label} ({config.get('kind')})"
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    end = first + pd.Timedelta(hours=int(config["hours"]))
    return f"{label} ({config.get('kind')}), {first:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def _fig_hv(steps: pd.DataFrame, path: Path, live: bool = False) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if live:  # no HV_max: the share of the reference box the trained front dominates
        ax.plot(steps["step"] + 1, 100 * steps["hv_ratio"], color="tab:blue")
        ax.set_ylabel("HV, % of the reference box")
    else:
        ax.plot(steps["step"] + 1, steps["log_hv_diff"], color="tab:blue")
        ax.set_ylabel("log10(HV_max − HV)")
    ax.set_xlabel("hour")
    ax.set_title("Search progress")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fig_split(steps: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    hours = steps["step"].to_numpy()
    ax2 = ax.twinx()
    ax2.bar(
        hours, steps["n_train"], width=1.0, color="tab:green", alpha=0.35, label="training GPUs"
    )
    ax2.bar(
        hours,
        steps["n_estimate"],
        width=1.0,
        bottom=steps["n_train"],
        color="tab:orange",
        alpha=0.25,
        label="estimating GPUs",
    )
    ax2.set_ylabel("GPUs")
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.plot(hours, steps["intensity"], color="black", lw=1.5, label="intensity")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlabel("hour")
    ax.set_ylabel("gCO2eq/kWh")
    ax.set_title("Carbon intensity and GPU split")
    lines = ax.get_legend_handles_labels()
    bars = ax2.get_legend_handles_labels()
    ax.legend(
        lines[0] + bars[0],
        lines[1] + bars[1],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=3,
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fig_carbon(steps: pd.DataFrame, budget: float | None, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(steps["step"] + 1, steps["cum_carbon_g"] / 1000.0, color="tab:red", label="spent")
    if budget is not None:
        ax.axhline(budget / 1000.0, color="gray", ls="--", label="budget")
    ax.set_xlabel("hour")
    ax.set_ylabel("kg CO2eq")
    ax.set_title("Cumulative carbon")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fig_front_live(archs: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.2))
    trained = archs.dropna(subset=["true_0"])
    if len(trained):
        y = trained[["true_0", "true_1"]].to_numpy()
        ax.scatter(y[:, 1], -y[:, 0], s=10, color="tab:gray", alpha=0.6, label="trained")
        front = pareto_front(y)
        ax.step(front[:, 1], -front[:, 0], where="post", color="tab:blue", label="found front")
    ax.set_xlabel("parameters (M)")
    ax.set_ylabel("validation accuracy (%), measured")
    ax.set_title("Pareto front of the cells trained live")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _energy_rows(energy: pd.DataFrame) -> str:
    """HTML rows: energy and carbon by meter and kind of work, measured or modelled."""
    rows = ""
    for _, r in energy.sort_values(["measured", "meter", "kind"], ascending=False).iterrows():
        how = "measured" if int(r["measured"]) else "modelled"
        rows += (
            f"<tr><td>{html.escape(str(r['meter']))}</td><td>{how}</td>"
            f"<td>{html.escape(str(r['kind']))}</td><td>{r['seconds']:.1f}</td>"
            f"<td>{r['energy_j'] / 3600:.4f}</td><td>{r['carbon_g']:.4f}</td></tr>"
        )
    return rows


def _fig_front(archs: pd.DataFrame, task_name: str, path: Path) -> None:
    task = get_task(task_name)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    trained = archs.dropna(subset=["true_0"])
    if len(trained):
        y = trained[["true_0", "true_1"]].to_numpy()
        nat = task.to_natural(y)
        ax.scatter(nat[:, 1], nat[:, 0], s=8, color="tab:gray", alpha=0.5, label="trained")
        front = task.to_natural(pareto_front(y))
        ax.step(front[:, 1], front[:, 0], where="post", color="tab:blue", label="found front")
    true = task.to_natural(task.true_front())
    ax.step(true[:, 1], true[:, 0], where="post", color="tab:red", ls="--", label="true front")
    ax.set_xlim(0, float(task.ref_point[1]))
    ax.set_ylim(max(0.0, float(np.min(true[:, 0])) - 10.0), float(np.max(true[:, 0])) + 2.0)
    acc_label, lat_label = axis_labels(task.dataset, task.device)
    ax.set_xlabel(lat_label)
    ax.set_ylabel(acc_label)
    ax.set_title("Pareto front of trained architectures")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(directory: str | Path) -> Path:
    """Write the figures and ``report.html`` of the study in ``directory``.

    Returns:
        The path of ``report.html``.
    """
    out = Path(directory)
    meta, steps, archs, energy = _read(out / "study.db")
    config: dict[str, Any] = json.loads(meta["config"])
    summary: dict[str, Any] = json.loads(meta.get("summary", "{}"))
    live = bool(config.get("live"))
    figures = {
        "hv.png": "Hypervolume (share of the reference box) over time"
        if live
        else "log10(HV_max − HV) over time",
        "split.png": "Carbon intensity with the GPU split",
        "carbon.png": "Cumulative carbon",
        "front.png": "Pareto front of the cells trained live"
        if live
        else "Pareto front of trained architectures against the true front",
    }
    _fig_hv(steps, out / "hv.png", live)
    _fig_split(steps, out / "split.png")
    _fig_carbon(steps, config.get("budget_g"), out / "carbon.png")
    if live:
        _fig_front_live(archs, out / "front.png")
    else:
        _fig_front(archs, config["task"], out / "front.png")
    trained = archs.dropna(subset=["true_0"])
    front_rows = ""
    if len(trained):
        y = trained[["true_0", "true_1"]].to_numpy()
        mask = np.zeros(len(y), dtype=bool)
        front = pareto_front(y)
        for row in front:
            mask |= np.all(y == row, axis=1)
        for _, r in trained[mask].sort_values("true_1").iterrows():
            cost_cells = ""
            if live:  # the paper's columns: what each front member cost to find and train
                cost_cells = (
                    f"<td>{r['seconds'] / 3600:.4f}</td><td>{r['energy_j'] / 3600:.4f}</td>"
                    f"<td>{r['carbon_g']:.4f}</td>"
                )
            front_rows += (
                f"<tr><td>{arch_html(r['arch_str'])}</td>"
                f"<td>{-r['true_0']:.2f}</td><td>{r['true_1']:.3f}</td>"
                f"{cost_cells}<td>{int(r['train_step'])}</td></tr>"
            )

    def kv(d: dict[str, Any]) -> str:
        return "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(fmt_value(v))}</td></tr>"
            for k, v in d.items()
        )

    figs = "".join(
        f'<figure><img src="{f}" alt="{t}"><figcaption>{t}</figcaption></figure>'
        for f, t in figures.items()
    )
    if live:
        acc_label, lat_label = "validation accuracy (%)", "parameters (M)"
        minutes = config.get("step_minutes")
        pace = (
            f"each step replays one hour of the trace in {minutes:g} min of wall time"
            if minutes
            else "steps of real hours"
        )
        cells = (
            f"DARTS cells (C={config.get('channels')}, {config.get('layers')} layers, a seeded "
            f"pool of {config.get('pool_size')} genotypes)"
            if config.get("space") == "darts"
            else f"NAS-Bench-201 cells (C={config.get('channels')}, "
            f"N={config.get('cells_per_stage')})"
        )
        intro = (
            f"Live study: {cells} trained for real, "
            f"{config.get('train_epochs')} epochs each, on "
            f"{html.escape(str(config.get('data') or 'the packaged CIFAR-10 subset'))}; "
            f"{config.get('gpus')} workers ({html.escape(str(config.get('backend')))} backend, "
            f"{html.escape(str(config.get('device')))}); {pace}; no HV_max (a live task has no "
            "table)"
        )
    else:
        task = get_task(config["task"])
        acc_label, lat_label = axis_labels(task.dataset, task.device)
        intro = f"Task {html.escape(task.name)}; HV_max = {task.hv_max:.3f}"
    energy_head = (
        "<tr><th>meter</th><th>energy</th><th>work</th><th>seconds</th><th>Wh</th>"
        "<th>g CO2eq</th></tr>"
    )
    cost_head = (
        "<th>worker-hours (estimate + training)</th><th>energy (Wh)</th><th>g CO2eq</th>"
        if live
        else ""
    )
    head = (
        f"<tr><th>architecture (one node a line)</th><th>{html.escape(acc_label)}</th>"
        f"<th>{html.escape(lat_label)}</th>{cost_head}<th>trained at hour</th></tr>"
    )
    prov = kv(json.loads(meta.get("provenance", "{}")))
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>cenas study {html.escape(meta.get("name", ""))}</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}
td{{overflow-wrap:anywhere}}td code{{white-space:nowrap}}
img{{max-width:100%}}</style></head><body>
<h1>cenas study <code>{html.escape(meta.get("name", ""))}</code></h1>
<p>{intro};
window {html.escape(_window(config, steps))};
status {html.escape(meta.get("status", "?"))}.</p>
<h2>Summary</h2><table>{kv(summary)}</table>
<h2>Energy by meter (nothing modelled is called measured)</h2>
<table>{energy_head}{_energy_rows(energy)}</table>
<h2>Figures</h2>
{figs}
<h2>Trained Pareto-front architectures</h2>
<table>{head}{front_rows}</table>
<h2>Configuration</h2><table>{kv(config)}</table>
<h2>Provenance</h2><table>{prov}</table>
<p>Carbon intensity data: Electricity Maps (ODbL). Benchmark: NAS-Bench-201, HW-NAS-Bench.</p>
</body></html>
"""
    path = out / "report.html"
    path.write_text(body, encoding="utf-8")
    return path
