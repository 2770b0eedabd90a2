"""State across calls: returned arrays belong to the caller, repeated calls, seeds (7 points).

One worker serves the whole suite, so a submission can remember earlier calls. No test here
compares a call with a repeated call on the same inputs: every result is compared with the
reference (reference.py, replay.py) on inputs the submission has not seen before, so remembering
answers cannot hide a bug, and a constant implementation earns nothing.

Aliasing: the `student` fixture copies every value that leaves the submission, so a returned
internal buffer is invisible to plain calls. `keep` leaves the returned value with the submission
and `student.read` copies it out later (tests/conftest.py, docs/internals.md).
"""

from __future__ import annotations

import numpy as np
import pytest

import check
import nets
import reference as ref
import replay

FRESH = ("Return a new array (the result of an expression, or buffer.copy()): an array a function returns "
         "belongs to the caller, and a later call must never change it.")


def gradients_of(model, layers, what):
    values, grads = [], model.get_attrs(["grad_weights", "grad_biases"])  # one request, read in turn
    for kind in ("grad_weights", "grad_biases"):
        got = next(grads)
        if not isinstance(got, (list, tuple)) or len(got) != layers:
            check.fail(f"after {what}, model.{kind} is not a list of {layers} arrays. Look at MLP.backward.")
        values.append([check.array(g, f"{kind}[{i}]", look="MLP.backward") for i, g in enumerate(got)])
    return values


def compare_gradients(got, expected, what, hints=()):
    """Fail unless every gradient array matches the reference (float round-off only)."""
    for kind, gots, wants in zip(("grad_weights", "grad_biases"), got, expected):
        for layer, (g, w) in enumerate(zip(gots, wants)):
            if g.shape != w.shape or not np.allclose(g, w, rtol=1e-6, atol=1e-9):
                check.fail(" ".join([f"{what}: {kind}[{layer}] is {check.short(g.ravel()[:4], 60)}..., expected "
                                     f"{check.short(w.ravel()[:4], 60)}... (shape {w.shape}).", *hints,
                                     "Look at MLP.backward."]))


def fresh_like(rng, net, n=None):
    """Inputs and targets the submission has not seen, for net's architecture."""
    other = nets.random_net(rng, net.sizes, net.activation, net.output_activation, net.loss, n=n or net.n)
    return other.X, other.Y


# --------------------------------------------------------------------------- aliasing


FUNCTIONS = {  # name -> (reference, argument maker)
    "sigmoid": (ref.sigmoid, 1), "sigmoid_grad": (ref.sigmoid_grad, 1), "tanh": (ref.tanh, 1),
    "tanh_grad": (ref.tanh_grad, 1), "relu": (ref.relu, 1), "relu_grad": (ref.relu_grad, 1),
    "leaky_relu": (ref.leaky_relu, 1), "leaky_relu_grad": (ref.leaky_relu_grad, 1), "elu": (ref.elu, 1),
    "elu_grad": (ref.elu_grad, 1), "softmax": (ref.softmax, 1),
    "mse_loss_grad": (ref.mse_loss_grad, 2), "cross_entropy_loss_grad": (ref.cross_entropy_loss_grad, 2),
}


def arguments(rng, count):
    z = rng.standard_normal((6, 4)) * 2
    z[np.abs(z) < 1e-3] = 0.5  # away from the kinks
    if count == 1:
        return (z,)
    return z, np.eye(4)[rng.integers(0, 4, 6)]


ARGUMENT_NAMES = {1: ("z",), 2: ("the output", "y")}


def changed_arguments(student, name, args) -> list[str] | None:
    """Which arguments a call of `name` changed in place (None: cannot be judged). The arguments are kept with
    the submission (through the given `identity`), passed to the call as those very arrays, and read back."""
    held = [student.keep("identity", a.copy()) for a in args]
    if not all(np.array_equal(student.read(h), a) for h, a in zip(held, args)):
        return None  # identity (given code) was changed: nothing to judge with
    student.call(name, *held)
    names = ARGUMENT_NAMES[len(args)]
    return [names[i] for i, (h, a) in enumerate(zip(held, args)) if not np.array_equal(student.read(h), a)]


@pytest.mark.points(1)
def test_functions_return_fresh_arrays(student, rng):
    """Do the activations, derivatives, softmax and loss gradients leave their arguments and past results alone?"""
    judged, aliased, in_place = [], [], []
    for name, (reference, count) in FUNCTIONS.items():
        first_args, later_args = arguments(rng, count), arguments(rng, count)
        try:
            kept = student.keep(name, *first_args)
            first = student.read(kept)
            if not (isinstance(first, np.ndarray) and first.shape == first_args[0].shape
                    and np.allclose(first, reference(*first_args), rtol=1e-7, atol=1e-10)):
                continue  # a wrong value is the value tests' finding; aliasing is judged on right values only
            student.call(name, *later_args)
            student.call(name, *arguments(rng, count))
            later = student.read(kept)
            changed = changed_arguments(student, name, arguments(rng, count))
        except NotImplementedError:
            continue
        judged.append(name)
        if not (isinstance(later, np.ndarray) and np.array_equal(later, first)):
            aliased.append(name)
        if changed:
            in_place.append(f"{name} changed {' and '.join(changed)}")
    if in_place:
        check.fail(f"{'; '.join(in_place)} in place: the caller's array then holds other values (in MLP.backward, "
                   "the cached pre-activations or output). Compute into a new array (y_hat - y, not y_hat -= y; no "
                   f"out= pointing at an argument). Look at {', '.join(t.split()[0] for t in in_place)}.")
    if aliased:
        check.fail(f"{', '.join(aliased)}: the array returned by one call was changed by the next calls "
                   f"(it is an internal buffer that every call overwrites). {FRESH} Look at "
                   f"{', '.join(aliased)} (np.exp(..., out=buffer), a module-level array).")
    if not judged:
        check.fail("none of the activations, derivatives, softmax or loss gradients returned the right values yet, "
                   "so whether their results stay unchanged cannot be judged; see the tests of their values.")


@pytest.mark.points(1)
def test_mlp_forward_output_belongs_to_caller(student, rng):
    """Does the array MLP.forward returned stay unchanged by a later forward, loss and backward?"""
    net = nets.random_net(rng, [4, 4, 4], "relu", "sigmoid", "mse", n=4)
    model = net.build(student)
    kept = model.keep("forward", net.X.copy())
    first = student.read(kept)
    check.arrays_close(f"MLP.forward(X) of {net.describe()}", first, net.output(), rtol=1e-7, atol=1e-10,
                       look="MLP.forward (see the forward tests; whether its result stays unchanged can only be "
                            "judged once it is right)")
    steps = []
    X2, Y2 = fresh_like(rng, net)
    for step, call in (("a forward on other inputs of the same shape", lambda: model.forward(X2)),
                       ("loss(Y)", lambda: model.loss(net.Y.copy())),
                       ("backward(Y)", lambda: model.backward(net.Y.copy()))):
        if step.startswith("loss"):
            model.forward(net.X.copy())  # loss and backward refer to the latest forward
        call()
        steps.append(step)
        later = student.read(kept)
        if not (isinstance(later, np.ndarray) and np.array_equal(later, first)):
            check.fail(f"The array MLP.forward(X) returned changed after {' then '.join(steps)}: forward returns "
                       f"an internal buffer (or backward changes the output in place), so a caller's result is "
                       f"overwritten. {FRESH} Look at MLP.forward (out=..., a preallocated array returned as it is) "
                       "and MLP.backward (-=, *= on the cached output).")


# --------------------------------------------------------------------------- repeated calls


@pytest.mark.points(2)
def test_mlp_backward_twice_same_gradients(student, rng):
    """Does each backward give the reference gradients for its own Y, leaving the loss, output and weights unchanged?

    Every call gets inputs the submission has not seen, so remembering answers cannot hide a gradient
    that adds up across calls; the stored gradients must also survive a later forward and loss.
    """
    net = nets.random_net(rng, [4, 5, 3], "sigmoid", "sigmoid", "mse", n=6, l2=0.1)
    model = net.build(student)
    args = (net.weights, net.biases)
    hyper = (net.activation, net.output_activation, net.loss, net.l1, net.l2)
    model.forward(net.X.copy())
    before = model.loss(net.Y.copy())  # judged only when right: a wrong loss is MLP.loss's own test's finding
    loss_right = check.is_number(before) and np.isclose(float(before), net.loss_value(), rtol=1e-8, atol=1e-12)
    _, decoy = fresh_like(rng, net)
    model.backward(decoy.copy())
    first = replay.gradients(*args, net.X, decoy, *hyper)
    compare_gradients(gradients_of(model, 2, "backward"), first, "MLP.backward(Y) after one forward")
    if loss_right:
        check.scalar_close("MLP.loss(Y) after backward", model.loss(net.Y.copy()), net.loss_value(), rtol=1e-8,
                           look="MLP.backward: an in-place operation (-=, *=, out=...) on the cached output or "
                                "activations changes what forward kept")
    model.backward(net.Y.copy())
    second = replay.gradients(*args, net.X, net.Y, *hyper)
    got = gradients_of(model, 2, "a second backward")
    summed = any(g.shape == b.shape and np.allclose(g, a + b, rtol=1e-6, atol=1e-9)
                 and not np.allclose(g, b, rtol=1e-6, atol=1e-9)
                 for gs, As, Bs in zip(got, first, second) for g, a, b in zip(gs, As, Bs))
    compare_gradients(got, second, "a second MLP.backward(Y) with other targets after the same forward",
                      ["It is the sum of the gradients of both calls: backward adds to the old gradients (+=); "
                       "assign instead."] if summed else [])
    kept = [model.keep_attr("grad_weights"), model.keep_attr("grad_biases")]
    X3, Y3 = fresh_like(rng, net)
    model.forward(X3)
    model.loss(Y3)
    later = [[check.array(g, "a gradient") for g in student.read(k)] for k in kept]
    compare_gradients(later, second, "after backward, a forward and loss on other inputs",
                      ["The gradients backward stored were changed by the next forward or loss: they are internal "
                       "buffers that forward reuses. Store new arrays in grad_weights and grad_biases."])
    X4, _ = fresh_like(rng, net)
    check.arrays_close("MLP.forward(X) after backward", model.forward(X4),
                       ref.forward(net.weights, net.biases, X4, net.activation, net.output_activation),
                       rtol=1e-7, atol=1e-10, look="MLP.forward/backward: backward must not change the weights")


@pytest.mark.points(1)
def test_mlp_forward_is_pure(student, rng):
    """Does each forward depend only on its X and the parameters, and do forward, loss and backward keep the weights?"""
    net = nets.random_net(rng, [4, 6, 3], "tanh", "identity", "cross_entropy", n=5, l1=0.01, l2=0.05)
    model = net.build(student)
    for n in (5, 3, 5):
        X, _ = fresh_like(rng, net, n)
        got = model.forward(X)
        check.arrays_close(f"MLP.forward(X) on a batch of {n} after earlier forwards", got,
                           ref.forward(net.weights, net.biases, X, net.activation, net.output_activation),
                           rtol=1e-7, atol=1e-10,
                           look="MLP.forward: it must depend only on X and the parameters (no state kept from an "
                                "earlier call)")
    model.forward(net.X.copy())
    for step in ("loss", "backward"):  # an error here is the finding of loss's or backward's own tests
        try:
            getattr(model, step)(net.Y.copy())
        except Exception as error:  # noqa: BLE001
            if getattr(error, "student_message", None) is None:
                raise
    for kind, wants in (("weights", net.weights), ("biases", net.biases)):
        gots = model.get(kind)
        for layer, w in enumerate(wants):
            g = check.array(gots[layer] if isinstance(gots, (list, tuple)) and len(gots) > layer else None,
                            f"{kind}[{layer}]", look="MLP.forward")
            if g.shape != w.shape or not np.allclose(g, w, rtol=1e-12, atol=1e-15):
                check.fail(f"{kind}[{layer}] changed during forward/loss/backward; only update(lr) may change the "
                           f"parameters. Look at MLP.forward, MLP.loss and MLP.backward for an in-place operation on "
                           f"self.{kind}.")


# --------------------------------------------------------------------------- seeds


def initial_weights_checked(student, sizes, activation, seed):
    model = check.model(student.MLP(list(sizes), activation=activation, seed=seed), f"MLP({list(sizes)}, ...)")
    want = replay.Net(sizes, activation, seed=seed).weights
    got = model.get("weights")
    if not isinstance(got, (list, tuple)) or len(got) != len(want) or \
            any(not np.array_equal(np.asarray(g), w) for g, w in zip(got, want)):
        check.fail(f"MLP({list(sizes)}, activation={activation!r}, seed={seed}) does not start with the weights the "
                   "given MLP.__init__ draws from np.random.default_rng(seed). Look at MLP.__init__ (given code).")
    return model


@pytest.mark.points(2)
def test_mlp_seed_determinism(student, rng):
    """Do MLPs built and trained with a seed give exactly what the given code gives for that seed, every time?"""
    sizes = [4, 7, 3]
    seeds = [int(s) for s in rng.integers(0, 2**31, 3)]
    for seed in seeds[:2]:
        initial_weights_checked(student, sizes, "tanh", seed)
    train_seed = int(rng.integers(0, 2**31))
    for attempt in range(2):  # two runs with the same seeds on data never seen before; each against the reference
        X = rng.standard_normal((24, 4))
        Y = np.eye(3)[rng.integers(0, 3, 24)]
        model = initial_weights_checked(student, sizes, "tanh", seeds[2])
        history = student.train(model, X.copy(), Y.copy(), 3, 0.1, batch_size=8, seed=train_seed)
        net = replay.Net(sizes, "tanh", seed=seeds[2])
        want = replay.train(net, X, Y, 3, 0.1, batch_size=8, seed=train_seed)
        got_weights = model.get("weights")
        losses = history.get("train_loss") if isinstance(history, dict) else None
        numbers = check.floats(losses, (3,)) if isinstance(losses, list) else None
        same_losses = numbers is not None and np.allclose(numbers, want["train_loss"], rtol=1e-6, atol=1e-9)
        same_weights = isinstance(got_weights, (list, tuple)) and len(got_weights) == 2 and all(
            check.floats(g, w.shape) is not None and np.allclose(check.floats(g, w.shape), w, rtol=1e-6, atol=1e-9)
            for g, w in zip(got_weights, net.weights))
        if same_losses and same_weights:
            continue
        # Failed: train does not reach the replay's weights. The verdict rests on that comparison alone. The run
        # below only picks the message: whether train agrees with the file's own steps in the given batch order
        # (then the steps are wrong, and backward/update's own tests say where) is the worker's word, which a
        # submission can fake (a replaced run_epochs), so it may name a cause, never pass the test.
        stepped = initial_weights_checked(student, sizes, "tanh", seeds[2])
        student.run_epochs(stepped, X, Y, replay.epoch_orders(24, 3, train_seed), 8, 0.1)
        own = stepped.get("weights")
        follows = isinstance(own, (list, tuple)) and isinstance(got_weights, (list, tuple)) and all(
            check.floats(a) is not None and check.floats(a, np.shape(check.floats(b))) is not None
            and np.allclose(check.floats(a), check.floats(b), rtol=1e-9, atol=1e-12) for a, b in zip(own, got_weights))
        net_start = replay.Net(sizes, "tanh", seed=seeds[2]).weights
        moved = isinstance(own, (list, tuple)) and len(own) == len(net_start) and any(
            check.floats(a, w.shape) is not None and not np.array_equal(check.floats(a, w.shape), w)
            for a, w in zip(own, net_start))
        if follows and not moved:
            check.fail(f"MLP({sizes}, activation='tanh', seed={seeds[2]}) trained with train(..., 3 epochs, lr 0.1, "
                       f"batch_size=8, seed={train_seed}) ends with the weights it started with: no training step "
                       "changed them. Look at MLP.backward and MLP.update (each step must move the weights by "
                       "-lr * gradient).")
        cause = ("train's steps differ from the given code's: each epoch must take the rows that "
                 "np.random.default_rng(seed).permutation picks, in that order, with X and Y rows paired; all "
                 "randomness must come from the seed (no global np.random)")
        if follows:
            cause = ("train takes its batches in the right order (it ends where your own forward, loss, backward and "
                     "update end when driven batch by batch in the seed's order), so the steps themselves differ from "
                     "p - lr * dL/dp: this test needs the given train to reach exactly the given code's weights, so "
                     "it fails with any bug of forward, loss, backward or update")
        check.fail(f"MLP({sizes}, activation='tanh', seed={seeds[2]}) trained with train(..., 3 epochs, lr 0.1, "
                   f"batch_size=8, seed={train_seed}) on new data (run {attempt + 1} of 2) gives train_loss "
                   f"{check.short(losses)}, expected {check.short(want['train_loss'])}: {cause}. Look at train "
                   "(given code), MLP.backward and MLP.update.")
