"""The report's redraw: the submission's code at the template's learning rates, said so on the page.

The rates the template's `__main__` runs are taken here by running the template's own argument
parser (not by the suite's reading of the solution's source), so a redraw at any other rates fails.
"""

from __future__ import annotations

import argparse
import importlib.util
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from grader.outputs import plots

KIT = Path(__file__).resolve().parents[2]


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Parsed(Exception):
    """Stops the template's main once its arguments are parsed."""


def main_rates() -> list[float]:
    """The learning rates the template's `__main__` uses when run without arguments."""
    template = load("redraw_template", KIT / "exercise02_template.py")
    parse = argparse.ArgumentParser.parse_args
    seen = {}

    def capture(parser, args=None, namespace=None):
        seen["rates"] = parse(parser, [], namespace).rates
        raise Parsed

    argparse.ArgumentParser.parse_args = capture
    try:
        with pytest.raises(Parsed):
            template.main([])
    finally:
        argparse.ArgumentParser.parse_args = parse
    return [float(rate) for rate in seen["rates"]]


class FakeStudent:
    """The sandbox proxy's two methods the redraw uses; records the calls."""

    def __init__(self):
        self.calls = []

    @contextmanager
    def limits(self, seconds=None):
        yield

    def learning_rate_experiment(self, rates, X, Y, X_val, Y_val, **arguments):
        self.calls.append((list(rates), arguments))
        return {lr: {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "val_accuracy": [0.5, 0.7]} for lr in rates}


def test_redraw_uses_the_template_rates(monkeypatch):
    """Does the hidden suite's redraw call the submission at exactly the template's __main__ rates, and record them?"""
    monkeypatch.syspath_prepend(str(KIT / "tests" / "hidden"))  # its helpers: check, reference, replay
    suite = load("redraw_hidden_training", KIT / "tests" / "hidden" / "test_training.py")
    rates = main_rates()
    assert len(rates) >= 3 and rates == sorted(rates)
    student, recorded = FakeStudent(), {}
    data = [np.zeros((7, 784)), np.eye(10)[:7], np.zeros((4, 784)), np.eye(10)[:4]]
    suite.record_redraw(student, data, lambda name, value: recorded.__setitem__(name, value))
    assert [call[0] for call in student.calls] == [rates]
    assert sorted(float(k) for k in recorded["artifact:lr_histories"]) == rates
    assert recorded["artifact:lr_redraw"] == {"epochs": suite.REDRAW_EPOCHS, "train_images": 7}
    assert suite.template_rates() == rates


def test_page_says_what_the_redraw_is():
    """Does the page's note name the grader, the template's rates, the epochs and the data size?"""
    histories = {rate: {} for rate in main_rates()}
    note = plots.describe_redraw(histories, {"epochs": 3, "train_images": 500})
    assert "run by the grader at the template's learning rates " + ", ".join(f"{r:g}" for r in sorted(histories)) in note
    assert "3 epochs each on 500 MNIST training images" in note
    assert "small MNIST subset" in plots.describe_redraw(histories, {"epochs": "3"})  # a malformed setting: no number
    assert plots.describe_redraw({}, None) == ""


def test_the_titles_given_height_draws_what_matplotlib_would_place():
    """plots.redraw gives its titles' height (TITLE_AT) so that drawing skips measuring the axes for them: are the
    PNGs byte for byte those drawn with matplotlib placing the titles itself, over random histories?"""
    from matplotlib.axes import Axes

    rng = np.random.default_rng(7)
    histories = []
    for _ in range(12):
        rates = sorted(rng.choice([0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0], size=int(rng.integers(1, 5)), replace=False))
        scale = 10 ** rng.uniform(-3, 2)
        histories.append({float(rate): {"train_loss": list(scale * rng.uniform(0.01, 5, n := int(rng.integers(1, 8)))),
                                        "val_loss": list(rng.uniform(0, 2, n)), "val_accuracy": list(rng.uniform(0, 1, n))}
                          for rate in rates})
    given = [plots.redraw(h) for h in histories]
    set_title = Axes.set_title
    try:
        Axes.set_title = lambda self, label, **kwargs: set_title(self, label, **{k: v for k, v in kwargs.items() if k != "y"})
        placed = [plots.redraw(h) for h in histories]
    finally:
        Axes.set_title = set_title
    assert given == placed and all(len(pictures) == 2 for pictures in given)
