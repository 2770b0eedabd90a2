"""The student script's own parts (solutions/exercise02.py outside the solution regions): run logging with
and without Weights & Biases, and the two plots."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2]
HISTORIES = {lr: {"train_loss": [2.3 / (k + 1) for k in range(3)], "val_accuracy": [0.5, 0.7, 0.8]}
             for lr in (0.001, 0.01, 0.1, 1.0, 10.0)}  # fmt: skip


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("exercise02_script", KIT / "solutions" / "exercise02.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wandb_missing_is_said_once_and_runs_are_logged_locally(script, tmp_path, monkeypatch, capsys):
    """With --wandb but no wandb installed, does the script say so once, and still log every run as JSON lines?"""
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    script.main(["--quick", "--epochs", "1", "--lr-epochs", "1", "--rates", "0.1", "1", "--wandb",
                 "--plots", str(tmp_path / "plots"), "--runs", str(tmp_path / "runs")])  # fmt: skip
    out = capsys.readouterr().out
    assert out.count("wandb is not installed") == 1, out
    runs = sorted((tmp_path / "runs").glob("*.jsonl"))
    assert len(runs) == 3  # the MNIST run and one per learning rate
    first = [json.loads(line) for line in runs[0].read_text().splitlines()]
    assert first[0]["event"] == "config" and first[0]["quick"] is True
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"lr_loss_curves.png", "lr_accuracy.png"}


def test_loss_plot_records_quick_and_legend_hides_no_curve(script):
    """Does the loss plot's title carry the note (--quick), and does its legend sit wholly outside the axes?"""
    fig = script.loss_figure(HISTORIES, note="--quick: 5000 training images, 1 epochs each")
    try:
        assert "--quick" in fig.axes[0].get_title()
        fig.canvas.draw()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent()
        frame = ax.get_window_extent()
        assert legend.x0 >= frame.x1, (legend, frame)  # entirely to the right of the plotting area
        assert len(ax.get_legend().get_texts()) == len(HISTORIES)
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
    fig = script.accuracy_figure(HISTORIES, note="--quick")
    assert "--quick" in fig.axes[0].get_title()


def test_wandb_gets_the_configuration_as_config_without_warnings(script, tmp_path, monkeypatch, capfd):
    """With wandb installed (offline), is the run's configuration its config, never a metric, and is no
    deprecation warning printed? Skipped only when wandb is not installed."""
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "false")
    logged = []
    real_init = wandb.init

    def spying_init(**kwargs):
        run = real_init(**kwargs)
        real_log = run.log
        run.log = lambda data, *a, **k: (logged.append(dict(data)), real_log(data, *a, **k))[1]
        return run

    monkeypatch.setattr(wandb, "init", spying_init)
    config = {"layers": [784, 64, 10], "lr": 0.1, "epochs": 2, "quick": True}
    for name in ("first", "second"):  # two runs in one process, as the learning-rate loop does
        log = script.RunLog(name, config, tmp_path / "runs", script.open_wandb(True))
        assert dict(log.wandb_run.config) == config
        log.log(epoch=1, train_loss=0.5, val_accuracy=0.8)
        log.summarise(test_accuracy=0.9)
        log.finish()
    assert logged == [{"epoch": 1, "train_loss": 0.5, "val_accuracy": 0.8}] * 2  # no config key among the metrics
    printed = capfd.readouterr()
    assert "deprecat" not in (printed.out + printed.err).lower(), printed.err[-2000:]


def partly_done(names: set[str]) -> str:
    """The solution with the regions of `names` turned into the template's stubs and every other region kept."""
    from grader.authoring.template import BEGIN, END, enclosing_name, render

    lines = KIT.joinpath("solutions", "exercise02.py").read_text().splitlines(keepends=True)
    kept, inside = [], None
    for index, line in enumerate(lines):
        marker = line.strip()
        if marker == BEGIN:
            inside = enclosing_name(lines, index, len(line) - len(line.lstrip()))
        if inside not in names and marker in (BEGIN, END):
            inside = None if marker == END else inside
            continue  # a finished function: its code stays, its markers go
        kept.append(line)
        if marker == END:
            inside = None
    return render("".join(kept))


def test_quick_run_stops_at_the_first_stub_with_one_line(tmp_path):
    """With the activations and losses written and the MLP's methods still stubs, does `--quick` stop with one line
    naming MLP.forward, its line and the `pytest -k` that runs its tests, instead of a traceback?"""
    import subprocess

    from grader.authoring.template import regions

    stubs = {name for name in regions(KIT.joinpath("solutions", "exercise02.py").read_text())
             if name.startswith("MLP.") or name == "learning_rate_experiment"}  # fmt: skip
    script = tmp_path / "exercise02_template.py"
    script.write_text(partly_done(stubs))
    done = subprocess.run([sys.executable, str(script), "--quick", "--data", str(KIT / "data" / "mnist")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    stub_line = 1 + script.read_text().splitlines().index('        raise NotImplementedError("MLP.forward")')
    assert lines == [f"Stopped: MLP.forward (line {stub_line} of exercise02_template.py) still raises "
                     'NotImplementedError. Implement it next, then run its tests with: pytest -k "test_forward"'], (
        "the run (run_xor, first) no longer reaches MLP.forward first, or explain_stub's wording in "
        "solutions/exercise02.py changed: edit this expectation to match")


def test_every_stub_names_a_pytest_k_that_selects_its_public_tests():
    """For every stub of the template, does the `pytest -k "test_<name>"` the script prints select at least one
    public test?"""
    import subprocess

    from grader.authoring.template import regions

    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/public"], cwd=KIT,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    tests = [line.split("::")[-1].split("[")[0] for line in listed.stdout.splitlines() if "::" in line]
    assert tests, listed.stdout[-2000:]
    for name in regions(KIT.joinpath("solutions", "exercise02.py").read_text()):
        expression = "test_" + name.rsplit(".", 1)[-1]
        selected = {test for test in tests if expression.lower() in test.lower()}
        assert selected, f"pytest -k {expression!r} selects no public test for the stub {name}"
