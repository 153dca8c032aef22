"""`cenas train-final ARCH`: train a found architecture with the full recipe and report the
columns of CE-NAS's result tables (Zhao et al., NeurIPS 2024): test accuracy, parameters,
device-hours, energy and carbon.

A DARTS genotype (printed as DARTS prints it, ``Genotype(normal=[...], ...)``) trains with
DARTS's CIFAR-10 evaluation recipe (:class:`cenas.train.DartsTrainConfig`: 600 epochs,
C=36, 20 cells, auxiliary head, cutout, drop path); an NB201 ``arch_str`` with
NAS-Bench-201's 200-epoch recipe. The energy is read by the device's meter
(:func:`cenas.meters.auto_meter`: NVML on a GPU, RAPL where readable, else the documented
power model, and the output says which); the carbon is that energy at ``--intensity``, or
at the mean direct intensity of the bundled ``--zone``'s trace. With ``--checkpoint DIR``
the training checkpoints every epoch and a rerun resumes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cenas.errors import ConfigError


def train_final_cmd(
    arch: Annotated[str, typer.Argument(help="A DARTS genotype as printed, or an NB201 arch_str.")],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="CIFAR-10 copy (default: the packaged 3,600-image subset)."),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", help="Epochs (default: the full recipe: DARTS 600, NB201 200)."),
    ] = None,
    channels: Annotated[
        int | None, typer.Option("--channels", help="C (default: DARTS 36, NB201 16).")
    ] = None,
    layers: Annotated[
        int | None,
        typer.Option("--layers", help="Cells: DARTS layers (20) or NB201 cells per stage (5)."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the training.")] = 0,
    zone: Annotated[
        str, typer.Option("--zone", help="Bundled zone whose mean intensity prices the energy.")
    ] = "US-CAL-CISO",
    intensity: Annotated[
        float | None,
        typer.Option("--intensity", help="gCO2eq/kWh to price the energy at (overrides --zone)."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="Folder to checkpoint into every epoch (resumes)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Train one architecture with the full recipe: test accuracy, params, hours, energy, carbon."""
    import torch

    from cenas.carbon import BUNDLED_ZONES, canonical_zone, load_bundled
    from cenas.datasets import load_cifar
    from cenas.engine.energy import JOULES_PER_KWH, carbon_g
    from cenas.meters import auto_meter
    from cenas.train import DartsTrainConfig, TrainConfig, resolve_device, train, train_darts

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format: must be 'table' or 'json', got {fmt!r}")
    if intensity is None:
        key = canonical_zone(zone)
        if key not in BUNDLED_ZONES:
            raise ConfigError(
                f"--zone: unknown {zone!r}; bundled zones are {', '.join(BUNDLED_ZONES)}"
            )
        intensity_g = float(load_bundled(key).values.mean())
        priced = f"mean direct intensity of the bundled {key} trace, {intensity_g:.1f} g/kWh"
    else:
        if intensity < 0:
            raise ConfigError(f"--intensity: must be non-negative, got {intensity}")
        intensity_g, priced = float(intensity), f"{intensity:g} g/kWh (given)"
    dev = str(resolve_device(device))
    full = load_cifar(data, "cifar10", "train")
    test = load_cifar(data, "cifar10", "test")
    meter = auto_meter(dev, threads=torch.get_num_threads())
    darts = arch.strip().startswith("Genotype(")
    token = meter.begin()
    if darts:
        from cenas.space import parse_genotype

        values: dict[str, Any] = {"seed": seed}
        for key, value in (("epochs", epochs), ("channels", channels), ("layers", layers)):
            if value is not None:
                values[key] = value
        result = train_darts(
            parse_genotype(arch),
            full,
            None,
            DartsTrainConfig(**values),
            device=dev,
            checkpoint_dir=checkpoint,
            test_set=test,
        )
    else:
        values = {"seed": seed}
        for key, value in (("epochs", epochs), ("channels", channels), ("cells_per_stage", layers)):
            if value is not None:
                values[key] = value
        result = train(
            arch,
            full,
            None,
            TrainConfig(**values),
            device=dev,
            checkpoint_dir=checkpoint,
            test_set=test,
        )
    reading = meter.end(token)
    out: dict[str, Any] = {
        "arch": result.arch,
        "space": "darts" if darts else "nb201",
        "status": result.status,
        "reason": result.reason,
        "test_acc": result.test_acc,
        "params": result.params,
        "epochs": result.epochs_completed,
        "device": dev,
        "device_hours": reading.seconds / 3600.0,
        "energy_kwh": reading.joules / JOULES_PER_KWH,
        "energy_measured": reading.measured,
        "meter": reading.meter,
        "carbon_g": carbon_g(reading.joules, intensity_g),
        "priced_at": priced,
        "images_per_second": result.images_per_second,
        "data": str(data) if data is not None else "packaged CIFAR-10 subset",
    }
    if fmt == "json":
        typer.echo(json.dumps(out, indent=2))
        return
    how = "measured" if reading.measured else "modelled"
    acc = "n/a" if result.test_acc is None else f"{result.test_acc:.2f} %"
    rows = [
        ("architecture", result.arch),
        ("status", result.status + (f" ({result.reason})" if result.reason else "")),
        ("test accuracy", f"{acc} on {len(test)} test images of {out['data']}"),
        ("parameters", f"{result.params:,} ({result.params / 1e6:.3f} M)"),
        ("epochs", str(result.epochs_completed)),
        (f"{dev} hours", f"{out['device_hours']:.4f}"),
        ("energy", f"{reading.joules / 3600:.3f} Wh ({how}, {reading.meter})"),
        ("carbon", f"{out['carbon_g']:.3f} g CO2eq at the {priced}"),
    ]
    for name, text in rows:
        typer.echo(f"  {name:<15} {text}")


def register(root: typer.Typer) -> None:
    """Add ``train-final`` to the ``cenas`` app."""
    root.command("train-final")(train_final_cmd)


__all__ = ["register", "train_final_cmd"]
