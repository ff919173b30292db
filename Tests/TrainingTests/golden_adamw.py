# Golden values for AdamWTests.swift: three AdamW steps in float64 numpy (decoupled weight decay
# on the first five parameters only, gradients scaled by 0.5 as the trainer does for averaging).
# Run by hand: python3 Tests/TrainingTests/golden_adamw.py; paste the output into AdamWTests.swift.
import numpy as np

p = np.array([0.5, -0.3, 0.1, 0.8, -1.2, 0.05, 0.0, 2.0], dtype=np.float64)
decay = np.array([1, 1, 1, 1, 1, 0, 0, 0], dtype=np.float64)
lrs = [1e-2, 5e-3, 2e-2]
beta1, beta2, eps, wd, scale = 0.9, 0.95, 1e-8, 0.1, 0.5
m = np.zeros_like(p)
v = np.zeros_like(p)


def grads(step):
    i = np.arange(p.size, dtype=np.float64)
    return np.float32(np.sin(1.3 * i + step) * (1 + 0.5 * step)).astype(np.float64)


def swift(name, a):
    print(f"let {name}: [Double] = [" + ", ".join(f"{x:.12e}" for x in a) + "]")


for t, lr in enumerate(lrs, start=1):
    g = grads(t) * scale
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    p = p - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * decay * p)
    swift(f"paramsAfterStep{t}", p)
swift("mAfter3", m)
swift("vAfter3", v)
