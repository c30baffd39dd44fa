"""Accuracy of difflab.likelihood.log_prob against closed forms, per integrator and divergence
estimator.

    python benchmarks/likelihood_accuracy.py     # writes benchmarks/results/likelihood.json, prints
    a table

Ideal denoisers, so every error is integration (and, for Hutchinson, estimator) error: a correlated
3-D Gaussian (prior from the data's moments) and the 8-Gaussian ring (isotropic prior, σ_max = 80).
"""

import json
import time

import torch

from difflab.data.toy import TOY_SETS
from difflab.ideal import Gaussian
from difflab.likelihood import log_prob

torch.manual_seed(0)
a = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
gauss = Gaussian(
    torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64),
    a @ a.T / 3 + 0.1 * torch.eye(3, dtype=torch.float64),
)
mix = TOY_SETS["8-gaussians"].mixture
cases = {
    "gaussian-3d": (
        gauss,
        gauss.sample(500, generator=torch.Generator().manual_seed(1)),
        {"data_mean": gauss.mean, "data_cov": gauss.cov},
    ),
    "8-gaussians": (mix, mix.sample(500, generator=torch.Generator().manual_seed(1)), {}),
}
settings = (
    [("dopri5", {"rtol": r, "atol": r}) for r in (1e-3, 1e-4, 1e-5)]
    + [(m, {"steps": n}) for m, ns in (("heun", (16, 64)), ("rk4", (8, 16, 32))) for n in ns]
    + [("dopri5", {"rtol": 1e-5, "atol": 1e-5, "hutchinson": k}) for k in (1, 4)]
)
rows = []
for name, (ideal, x, extra) in cases.items():
    exact = ideal.log_prob(x)
    for method, opts in settings:
        stats = {}
        t0 = time.perf_counter()
        lp = log_prob(
            ideal,
            x,
            method=method,
            stats=stats,
            generator=torch.Generator().manual_seed(2),
            **opts,
            **extra,
        )
        err = lp - exact
        rows.append(
            {
                "case": name,
                "method": method,
                **{k: v for k, v in opts.items() if k != "atol"},
                "nfe": stats["nfe"],
                "mean_abs_error": float(err.abs().mean()),
                "bias": float(err.mean()),
                "bias_se": float(err.std() / len(err) ** 0.5),
                "seconds": time.perf_counter() - t0,
            }
        )
        r = rows[-1]
        print(
            f"{name:12s} {method:7s} "
            f"{json.dumps({k: v for k, v in opts.items() if k != 'atol'}):38s} "
            f"NFE {r['nfe']:4d}  MAE {r['mean_abs_error']:.2e}  bias {r['bias']:+.2e} ± "
            f"{r['bias_se']:.1e}"
        )
with open("benchmarks/results/likelihood.json", "w") as f:
    json.dump({"torch": torch.__version__, "n": 500, "rows": rows}, f, indent=2)
