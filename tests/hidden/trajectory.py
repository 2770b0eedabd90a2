"""A training run the worker reports, checked in the test process: the learning tests' verdicts rest on it.

The worker trains the submission's MLP with its own forward, loss, backward and update in the batch
order chosen here (grader/sandbox/training.py, next to the submission, which can replace it) and
reports the parameters before the first step, after the first and after every k-th. Nothing it
reports is trusted. This module
* reads the parameters itself before training and after it (requests of its own) and requires the
  first and the last reported state to be exactly those;
* replays steps from a reported state with the reference gradient (replay.gradients: the loss as
  the contract defines it) on the batch and at the rate chosen here, and requires the next reported
  state to be the replay's within RTOL of the move. Each replay starts from the worker's own state
  (a local check: no error carries over from one segment to the next, however long the run);
* replays every segment (XOR: every one of its 400 steps, all at once on stacks: `suspects`), or, where
  that would cost as much as the training itself (MNIST: 313 steps of a 784-64-10 net), the first
  step, the last segment and the segments where the rate changes, and a SHARE-th of the others drawn
  after the states are in hand, from the run seed and a digest of the states (the worker cannot know
  which: the run seed comes from the file's content and the suite's version, a hash of the hidden
  suite and the solution).
* makes one more step itself, through the model's methods called one by one (forward, loss, backward,
  update), from parameters it draws itself, and requires the reference step: the
  replays prove what the states are, this proves that the submission's methods make such steps (a loop
  replaced in the worker could compute them some other way, by finite differences of forward and loss).

So a step that is not p - lr * dL/dp fails the test, whatever the in-worker check said: a bug that
still learns fails deterministically, and a worker that reports states it did not reach by such
steps is caught in each replayed segment (docs/security.md says how likely a single faked one is).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

import check
import reference as ref
import replay
from grader.sandbox.training import checkpoint_steps, step_counts

# A reported state must equal the replay within RTOL of the segment's move, per parameter array (the largest
# difference against the largest move; plus ATOL of each entry's own size for entries that barely move).
# Measured on every segment of XOR (5 seeds, 400 steps) and MNIST (313 steps), run seed 1: the solution and every
# alternative of tests/selftest/alternatives differ from the replay by at most 1.3e-12 of the move (XOR) and
# 3e-14 (MNIST): other orders of the same float64 sums. The mutants of tests/selftest/mutants.py whose steps
# differ: float32 arithmetic (mse_grad_float32, sigmoid_float32_arithmetic) by 1.5e-8 to 1.7e-4 per step (XOR,
# whose every step is replayed, sees up to 4.8e-5 and 1.7e-4), every other bug by at least 0.12 in every segment
# it changes (MNIST: at least 0.78). 1e-6 is 10^5 times what a correct implementation gets.
RTOL = 1e-6
ATOL = 1e-13
SHARE = 4  # of the segments not always replayed, one in SHARE is (at least one)
FLOAT32 = 1e-3  # a step off by less than this (relative to the move), but more than RTOL: float32 rounding


@dataclass(frozen=True)
class Run:
    """What this process asks the worker to train: the net, the data and the steps."""

    sizes: tuple
    activation: str
    output_activation: str
    loss: str
    X: np.ndarray
    Y: np.ndarray
    orders: tuple  # one (epochs, N) row order per rate
    rates: tuple
    batch_size: int

    def shapes(self) -> list:
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        return [(n_out, n_in) for n_in, n_out in pairs] + [(n_out,) for _, n_out in pairs]

    def names(self) -> list:
        layers = len(self.sizes) - 1
        return [f"weights[{i}]" for i in range(layers)] + [f"biases[{i}]" for i in range(layers)]

    def steps(self) -> list:
        """(rows, lr) of every step, in order."""
        return [(epoch[start : start + self.batch_size], rate) for order, rate in zip(self.orders, self.rates)
                for epoch in order for start in range(0, len(epoch), self.batch_size)]


def train(student, model, run: Run, what: str, secret: str, replay_all: bool) -> tuple:
    """Train `model` in the worker and check the run; (weights, biases, the reported epoch losses) or a failure."""
    shapes, names = run.shapes(), run.names()
    start = read_parameters(model, shapes, names, "before training", what)
    reply = ask(student, model, run, what)
    steps = run.steps()
    at = checkpoint_steps(len(steps), sum(math.prod(s) for s in shapes))
    states, losses = reported(reply, shapes, len(at), what)
    end = read_parameters(model, shapes, names, "after training", what)
    for when, params, k in (("before training", start, 0), ("after training", end, len(at) - 1)):
        for name, p, stack in zip(names, params, states):
            if not np.array_equal(p, stack[k], equal_nan=True):
                check.fail(f"{what}: model.{name} {when} is not the state the training loop reported "
                           f"{'before its first step' if k == 0 else 'after its last'}: something else changed the "
                           "parameters (or the grader's training loop in the worker was replaced). Only update "
                           "may change them, by -lr * the gradient. Look at MLP.update and at anything that writes "
                           "self.weights or self.biases.")
    picked = chosen(at, run, states, secret, replay_all)
    for a in suspects(run, steps, at, picked, states):
        verify(run, steps, at, a, states, names, what)
    step_by_methods(model, run, steps[0], names, secret, what)
    layers = len(shapes) // 2
    model.set_attrs({"weights": end[:layers], "biases": end[layers:]})  # the model as trained, for what follows
    return end[:layers], end[layers:], losses  # the last reported state, checked equal above


def step_by_methods(model, run: Run, step, names: list, secret: str, what: str) -> None:
    """One step through the model's own methods, called one by one from here, from parameters drawn here.

    The replays prove the reported states follow the reference gradient, not that MLP.forward, backward and
    update made them: a training loop replaced in the worker can compute its steps otherwise (finite differences
    of forward and loss, say) while backward stays wrong. So the first step's batch and rate are applied once
    more as forward(X), loss(Y), backward(Y), update(lr) calls (the rule the public test
    test_training_steps_follow_the_gradient shows) to parameters drawn here from the secret, as the given
    MLP.__init__ draws them (Gaussian weights of its scale; the biases Gaussian too, so that every one moves):
    not a state the worker reported or chose (a start where every ReLU is off would make the right step a
    simple sum that a wrong backward could special-case). The result must be the reference step within RTOL."""
    rows, lr = step
    layers = len(run.sizes) - 1
    noise = np.random.default_rng(int.from_bytes(hashlib.blake2b(f"methods:{secret}".encode(), digest_size=16)
                                                 .digest(), "little"))
    gain = 2.0 if run.activation in replay.RELU_FAMILY else 1.0
    begin = [noise.standard_normal(shape) * (np.sqrt(gain / shape[1]) if len(shape) == 2 else 0.1)
             for shape in run.shapes()]
    X, Y = np.array(run.X[rows], dtype=np.float64), np.array(run.Y[rows], dtype=np.float64)
    model.set_attrs({"weights": [p.copy() for p in begin[:layers]], "biases": [p.copy() for p in begin[layers:]]})
    model.forward(X.copy())
    model.loss(Y.copy())
    model.backward(Y.copy())
    model.update(lr)
    found = read_parameters(model, run.shapes(), names, f"after one step called as forward, loss, backward, "
                            f"update({lr:g})", what)
    want = reference_step(run, begin, rows, lr)
    for i, (p0, w, f) in enumerate(zip(begin, want, found)):
        if not close(p0, w, f):
            index = check.worst_entry(f, w)
            entry = f"{names[i]}[{', '.join(map(str, index))}]"
            check.fail(f"{what}: one training step called as MLP.forward(X), loss(Y), backward(Y), update({lr:g}) "
                       f"on a batch of {len(rows)} rows of the training data, from weights and biases the grader set, "
                       f"moved {entry} by "
                       f"{float(f[index] - p0[index]):.6g}; expected {float(w[index] - p0[index]):.6g}, -lr times "
                       f"the gradient of the loss. Likely cause: {likely_cause(run, begin, found, rows, lr)}. The "
                       "steps the training run reported were checked and followed the gradient, so the training did "
                       "not go through these methods as they are: MLP.forward, loss, backward and update must make "
                       "every step themselves, p - lr * the gradient of the loss.")


def ask(student, model, run: Run, what: str):
    """student.run_epochs; the in-worker check's UpdateMismatch fails the test early with its own message."""
    single = len(run.rates) == 1
    try:
        return student.run_epochs(model, run.X, run.Y, run.orders[0] if single else list(run.orders), run.batch_size,
                                  run.rates[0] if single else list(run.rates))
    except Exception as error:
        if str(getattr(error, "type_name", type(error).__name__)) != "UpdateMismatch":
            raise
        detail = str(getattr(error, "detail", None) or error)
        check.fail(f"{what}: {detail[:400]}. The trained weights must come from the gradients backward "
                   "computes, moved by update: look at MLP.update (every weight and bias, p - lr * grad_p with the "
                   "lr it is given) and at anything else that writes self.weights or self.biases.")


def read_parameters(model, shapes, names, when: str, what: str) -> list:
    """model.weights + model.biases read by a request of this process, as float64 arrays of the net's shapes."""
    weights, biases = model.get_attrs(["weights", "biases"])
    layers = len(shapes) // 2
    found = []
    for kind, value in (("weights", weights), ("biases", biases)):
        if not isinstance(value, (list, tuple)) or len(value) != layers:
            check.fail(f"{what}: {when}, model.{kind} is {check.described(value)}; expected a list of {layers} "
                       "arrays. Look at MLP.__init__ and MLP.update.")
        found += list(value)
    arrays = [check.floats(v, s) for v, s in zip(found, shapes)]
    for name, value, array, shape in zip(names, found, arrays, shapes):
        if array is None:
            check.fail(f"{what}: {when}, model.{name} is {check.described(value)}; expected an array of numbers of "
                       f"shape {shape}. Look at MLP.__init__ and MLP.update.")
    return arrays


def reported(reply, shapes, count: int, what: str) -> tuple:
    """The states and losses of the worker's reply (untrusted): one float64 stack per parameter, `count` states."""
    states = reply.get("states") if isinstance(reply, dict) else None
    if not (isinstance(states, list) and len(states) == len(shapes) and all(
            isinstance(s, np.ndarray) and s.dtype == np.float64 and s.shape == (count, *shape)
            for s, shape in zip(states, shapes))):
        check.fail(f"{what}: the training loop in the worker reported {check.kind_of(reply)}, not "
                   f"the parameters at the {count} steps it reports when it runs as the grader wrote it: the "
                   "submission replaced or changed the grader's training loop (grader/sandbox/training.py), or "
                   "changed the number or shapes of the parameters while training. Train only through forward, "
                   "loss, backward and update.")
    losses = reply.get("losses")
    losses = [v for v in losses if check.is_number(v)] if isinstance(losses, list) else []
    return states, [float(v) for v in losses]


def chosen(at: list, run: Run, states: list, secret: str, replay_all: bool) -> list:
    """The indices a of the segments (at[a], at[a + 1]] to replay, in order."""
    segments = range(len(at) - 1)
    if replay_all:
        return list(segments)
    switches = np.cumsum(step_counts(run.orders, run.batch_size))[:-1]  # the last step at each rate but the last
    always = {0, len(at) - 2} | {a for a in segments for s in switches if at[a] <= s < at[a + 1]}
    others = [a for a in segments if a not in always]
    digest = hashlib.blake2b(secret.encode(), digest_size=16)
    for stack in states:
        digest.update(np.ascontiguousarray(stack).data)
    rng = np.random.default_rng(int.from_bytes(digest.digest(), "little"))
    drawn = rng.choice(others, min(len(others), max(1, -(-len(others) // SHARE))), replace=False) if others else []
    return sorted(always | {int(a) for a in drawn})


def suspects(run: Run, steps: list, at: list, picked: list, states: list) -> list:
    """The segments of `picked` to replay one by one: all of them, except where every segment is one step of
    one batch size (XOR: 400 steps of a 2-8-1 net, where a step costs less than the Python around it). There
    the steps are replayed all at once (reference_steps: the same formulas on stacks of states) and only a
    step found off is replayed alone, which then fails the test with its message."""
    if any(at[a + 1] - at[a] != 1 for a in picked) or len({len(steps[at[a]][0]) for a in picked}) != 1:
        return picked
    rows = np.array([steps[at[a]][0] for a in picked])
    lrs = np.array([steps[at[a]][1] for a in picked])
    begin = [stack[picked] for stack in states]
    want = reference_steps(run, begin, rows, lrs)
    off = np.zeros(len(picked), dtype=bool)
    for start, wanted, stack in zip(begin, want, states):
        off |= ~(deviation(start, wanted, stack[np.add(picked, 1)], axis=0) <= RTOL)
    return [a for a, bad in zip(picked, off) if bad]


def reference_steps(run: Run, params: list, rows, lrs) -> list:
    """reference_step for K steps at once: params stacked (K, *shape), rows (K, B), lrs (K,); replay.gradients'
    formulas on stacks (tests/selftest/test_trajectory.py checks that they agree step by step)."""
    layers = len(params) // 2
    X, Y = np.asarray(run.X[rows], dtype=np.float64), np.asarray(run.Y[rows], dtype=np.float64)  # (K, B, n)
    with np.errstate(over="ignore", invalid="ignore"):
        A, inputs, zs = X, [], []
        for layer, (W, b) in enumerate(zip(params[:layers], params[layers:])):
            inputs.append(A)
            zs.append(A @ np.swapaxes(W, -1, -2) + b[:, None, :])  # (K, B, n_out)
            A = ref.ACTIVATIONS[run.output_activation if layer == layers - 1 else run.activation][0](zs[-1])
        dA = ref.LOSSES[run.loss][1](A, Y) * len(rows)  # the loss gradient divides by K * B rows, a step's by B
        grads = [None] * len(params)
        for layer in reversed(range(layers)):
            name = run.output_activation if layer == layers - 1 else run.activation
            last_ce = run.loss == "cross_entropy" and layer == layers - 1
            dZ = dA if last_ce else dA * ref.ACTIVATIONS[name][1](zs[layer])
            grads[layer], grads[layers + layer] = np.swapaxes(dZ, -1, -2) @ inputs[layer], dZ.sum(axis=1)
            if layer:
                dA = dZ @ params[layer]
        return [p - lrs.reshape(-1, *[1] * (p.ndim - 1)) * g for p, g in zip(params, grads)]


def verify(run: Run, steps: list, at: list, a: int, states: list, names: list, what: str) -> None:
    """Replay the steps after at[a] up to at[a + 1] from the reported state; fail when the next one is not it."""
    begin = [stack[a] for stack in states]
    params = begin
    for rows, lr in steps[at[a] : at[a + 1]]:
        params = reference_step(run, params, rows, lr)
    found = [stack[a + 1] for stack in states]
    for i, (p0, want, got) in enumerate(zip(begin, params, found)):
        if not close(p0, want, got):
            check.fail(mismatch(run, steps, at, a, i, begin, params, found, names, what))


def reference_step(run: Run, params: list, rows, lr: float) -> list:
    """p - lr * dL/dp for the batch `rows`, dL/dp the reference gradient (replay.gradients)."""
    layers = len(params) // 2
    X, Y = np.asarray(run.X[rows], dtype=np.float64), np.asarray(run.Y[rows], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        dWs, dbs = replay.gradients(params[:layers], params[layers:], X, Y, run.activation, run.output_activation,
                                    run.loss)
        return [p - lr * g for p, g in zip(params, dWs + dbs)]


def close(start, want, got) -> bool:
    """`got` is `want` within RTOL of the move from `start` (plus ATOL of each entry's size for tiny moves)."""
    return deviation(start, want, got) <= RTOL


def deviation(start, want, got, axis=None):
    """The largest difference of `got` from `want`, each over the largest move from `start` (plus ATOL / RTOL of that
    entry's own size, for entries that barely move); entries non-finite in both count as equal (a run that diverged
    as the replay did). With axis=0: one figure per entry of that axis (a stack of states). Each entry's size is its
    own: with the array's largest, one huge entry that changes nothing (a hidden unit that stays off) gave every
    other entry of the array a tolerance of its size."""
    start, want, got = (np.asarray(a, dtype=np.float64) for a in (start, want, got))
    over = None if axis is None else tuple(range(1, start.ndim))
    with np.errstate(over="ignore", invalid="ignore"):
        error = np.abs(got - want)
        moves, sizes = np.abs(want - start), np.abs(start)
        error = np.where(~np.isfinite(got) & ~np.isfinite(want), 0.0, np.where(np.isnan(error), np.inf, error))
        move = np.max(moves, axis=over, where=np.isfinite(moves), initial=0.0, keepdims=True)
        scale = ATOL / RTOL * np.where(np.isfinite(sizes), np.maximum(sizes, 1.0), 1.0)
        ratio = np.max(np.where(error > 0, error / (move + scale), 0.0), axis=over, initial=0.0)
    return float(ratio) if axis is None else ratio


def mismatch(run: Run, steps: list, at: list, a: int, i: int, begin, want, found, names, what: str) -> str:
    """The student's message: which step, which parameter, the move expected and found, the likely cause."""
    first, last = at[a] + 1, at[a + 1]
    index = check.worst_entry(found[i], want[i])
    moved, expected = float(found[i][index] - begin[i][index]), float(want[i][index] - begin[i][index])
    entry = f"{names[i]}[{', '.join(map(str, index))}]"
    rows, lr = steps[first - 1]
    if first == last:
        where = (f"training step {first} (forward, loss, backward, update({lr:g}) on a batch of {len(rows)} rows) "
                 f"moved {entry} by {moved:.6g}; expected {expected:.6g}, -lr times the gradient of the loss")
        cause = likely_cause(run, begin, found, rows, lr)
    else:
        where = (f"the {last - first + 1} training steps {first} to {last} (forward, loss, backward, update) "
                 f"moved {entry} by {moved:.6g} in all; the same steps with the gradient of the loss move it by "
                 f"{expected:.6g}, from the parameters the run reached after step {first - 1}")
        cause = ("the first step was checked and right, so steps that are wrong only later or sometimes: something in "
                 "MLP.forward, backward or update that depends on the parameters (every bias is 0 before the first "
                 "step, so a bias left out shows only after it), on the batch (its size: the last batch of an epoch "
                 "may be smaller) or on the steps before (a counter, a kept value, gradients added to the last ones)")
    return (f"{what}: {where}. Likely cause: {cause}. Every step must move each weight and bias by exactly -lr times "
            "the gradient of the loss (as the contract defines it, regularisation included) at the parameters "
            "before the step, and nothing else.")


def likely_cause(run: Run, begin, found, rows, lr: float) -> str:
    """Which usual bug makes exactly the step found (one step from `begin` on `rows`)."""
    layers = len(begin) // 2
    moves = [f - b for f, b in zip(found, begin)]
    X, Y = np.asarray(run.X[rows], dtype=np.float64), np.asarray(run.Y[rows], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        right = [w - b for w, b in zip(reference_step(run, begin, rows, lr), begin)]
        guesses = [("update leaves the parameters as they are", [0 * m for m in right], "MLP.update"),
                   ("update does not move the biases", right[:layers] + [0 * m for m in right[layers:]], "MLP.update"),
                   ("update does not move the weights", [0 * m for m in right[:layers]] + right[layers:], "MLP.update"),
                   ("the step goes up the gradient (+lr * grad)", [-m for m in right],
                    "MLP.update, and the sign of the loss gradient"),
                   ("the learning rate is not used (the whole gradient is subtracted)", [m / lr for m in right],
                    "MLP.update")]
        for text, kind, look in (("the gradient leaves out the activations' derivative", "none", "MLP.backward "
                                  "(dZ = dA * f_grad(Z) in every layer)"),
                                 ("the derivative is taken at the activation's output f(Z), not at Z", "at_output",
                                  "MLP.backward (f_grad gets the pre-activation Z)"),
                                 ("the output layer's derivative is left out", "no_output", "MLP.backward (the last "
                                  "layer's dZ = dA * f_grad(Z) of the output activation)"),
                                 ("the output layer uses the hidden activation", "hidden_output",
                                  "MLP.forward (the last layer applies output_activation)")):
            guesses.append((text, [-lr * g for g in variant_gradients(run, begin, X, Y, kind)], look))
    for text, move, look in guesses:
        if all(close(np.zeros_like(m), g, m) for m, g in zip(moves, move)):
            return f"{text}. Look at {look}"
    if all(deviation(np.zeros_like(m), g, m) <= FLOAT32 for m, g in zip(moves, right)):
        return ("the move is right to a few digits only, as when part of the step is computed in float32 "
                "(astype(np.float32), float32 arrays or constants); the contract computes in float64. Look at "
                "MLP.forward, backward and update and the functions they call")
    ratio = factor(moves, right)
    if ratio:
        return f"{ratio} Look at MLP.backward (and the loss gradient) and MLP.update"
    return ("the gradient of the loss is not what backward computes, or update does not apply it as it is. Look at "
            "MLP.backward (and MLP.forward, whose kept values it reads); if its own tests pass, at MLP.update")


def factor(moves, right) -> str:
    """A hint when every move is the same multiple of the right one."""
    got, want = np.concatenate([m.ravel() for m in moves]), np.concatenate([m.ravel() for m in right])
    if not np.all(np.isfinite(got)) or not float(want @ want):
        return ""
    r = float(got @ want) / float(want @ want)
    if np.linalg.norm(got - r * want) > 1e-6 * max(float(np.linalg.norm(got)), 1e-300):
        return ""
    return check.factor_hint(r)


def variant_gradients(run: Run, params, X, Y, kind: str) -> list:
    """The gradients as a usual bug computes them: "none" (no activation derivative in any layer), "at_output"
    (each derivative at f(Z)), "no_output" (none at the output layer), "hidden_output" (the hidden activation at the
    output, in forward and backward alike)."""
    layers = len(params) // 2
    weights, biases = params[:layers], params[layers:]
    output_activation = run.activation if kind == "hidden_output" else run.output_activation
    out, zs = ref.forward(weights, biases, X, run.activation, output_activation, keep=True)
    inputs = [X] + [ref.ACTIVATIONS[run.activation][0](Z) for Z in zs[:-1]]
    dA = ref.LOSSES[run.loss][1](out, Y)
    dWs, dbs = [None] * layers, [None] * layers
    for layer in reversed(range(layers)):
        f, f_grad = ref.ACTIVATIONS[output_activation if layer == layers - 1 else run.activation]
        if kind == "none" or (kind == "no_output" and layer == layers - 1):
            dZ = dA
        else:
            dZ = dA * f_grad(f(zs[layer]) if kind == "at_output" else zs[layer])
        dWs[layer], dbs[layer] = dZ.T @ inputs[layer], dZ.sum(axis=0)
        dA = dZ @ weights[layer]
    return dWs + dbs
