# ruff: noqa: F821  (a fragment appended to a submission: np is the submission's own name)
# Appended to a submission (tests/selftest/test_redteam_learning.py). The grader's training loop in the worker
# is replaced by one that never calls backward: each step's gradient is a central finite difference of the
# submission's own forward and loss (right in this mutant; backward is wrong), and the states are reported
# at the steps checkpoint_steps names, as the grader's loop reports them. Every XOR step the trusted side
# replays is then the reference step (to about 1e-10 of the move): it passed test_xor_learns until the trusted
# side also made a step through the model's methods itself (trajectory.step_by_methods). On XOR's shapes
# only: MNIST's steps by finite differences would take hours.
def _sys_module():
    for value in vars(np).values():
        space = getattr(value, "__globals__", None)
        if isinstance(space, dict) and getattr(space.get("sys"), "modules", None) is not None:
            return space["sys"]
    return None


def _fd_gradients(model, Xb, Yb, h=1e-3):
    """A five-point stencil per parameter (error of order h^4): close enough to the gradient even where it is tiny."""
    params = model.weights + model.biases
    grads = []
    for p in params:
        g = np.zeros_like(p)
        flat, gflat = p.reshape(-1), g.reshape(-1)
        for j in range(flat.size):
            keep, values = flat[j], []
            for offset in (2 * h, h, -h, -2 * h):
                flat[j] = keep + offset
                model.forward(Xb)
                values.append(float(model.loss(Yb)))
            flat[j] = keep
            gflat[j] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
        grads.append(g)
    return grads


def _arm_fd_loop():
    sys = _sys_module()
    for name in ("training", "grader.sandbox.training"):
        module = sys.modules.get(name) if sys is not None else None
        if module is None or getattr(module.run_epochs, "_replaced", False):
            continue
        real, schedule, checkpoint_steps = module.run_epochs, module.schedule, module.checkpoint_steps

        def run_epochs(model, X, Y, order, batch_size, lr, x_divisor=1.0):
            if getattr(X, "shape", None) != (4, 2):  # XOR only: MNIST's steps by finite differences take hours
                return real(model, X, Y, order, batch_size, lr, x_divisor)
            parts = schedule(order, lr)
            batch_size = int(batch_size)
            total = sum(part.shape[0] * -(-part.shape[1] // batch_size) for part, _ in parts)
            params = model.weights + model.biases
            at = checkpoint_steps(total, sum(p.size for p in params))
            stacks = [np.empty((len(at), *p.shape)) for p in params]
            kept, step, losses = 0, 0, []

            def record():
                nonlocal kept
                if kept < len(at) and at[kept] == step:
                    for s, p in zip(stacks, model.weights + model.biases):
                        s[kept] = p
                    kept += 1

            record()
            for part, rate in parts:
                for epoch in part:
                    total_loss = 0.0
                    for start in range(0, len(epoch), batch_size):
                        rows = epoch[start:start + batch_size]
                        Xb = np.array(X[rows], dtype=np.float64) / float(x_divisor)
                        Yb = np.array(Y[rows], dtype=np.float64)
                        model.forward(Xb)
                        total_loss += float(model.loss(Yb)) * len(rows)
                        grads = _fd_gradients(model, Xb, Yb)
                        for p, g in zip(model.weights + model.biases, grads):
                            p -= rate * g
                        step += 1
                        record()
                    losses.append(total_loss / max(1, len(epoch)))
            return {"losses": losses, "states": stacks}

        run_epochs._replaced = True
        module.run_epochs = run_epochs


_arm_fd_loop()
