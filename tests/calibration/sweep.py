"""Seed sweeps of the suite's statistical tests: the distribution of each tested statistic.

A statistical test compares an estimate with a closed form (or an exact value) within a
tolerance, at one fixed seed.  This script recomputes the same statistic, with the same
n, m, k and estimator, over many seeds (data and directions both reseeded) and prints,
per case: the mean, the bias (mean - truth), the standard deviation, the largest error
seen, and the tolerance the test uses.  The tolerance rule (docs/testing.md):

    tol = max(|bias| + 3.29 sd, largest error seen)   (3.29: two-sided 99.9% normal quantile)

so a correct library passes in at least 99.9% of seeds, and the power against a 10% bias
(the estimate shifted by +-0.1 * truth) is the fraction of seeds where the shifted
estimate fails.  A case whose power is low was redesigned (larger n or m, the mean over
several seeds, a truth where the estimator is unbiased, or, for SMI, the exact value of the
directions drawn, which removes their Monte Carlo error) before its tolerance was set.

Not collected by pytest.  Run from the repository root, e.g.::

    python tests/calibration/sweep.py --seeds 100 --cases smi_exact
    python tests/calibration/sweep.py --seeds 100 --out tests/calibration/results.json

Results merge into the JSON file, one entry per case.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import fastsmi  # noqa: E402
from fastsmi.experiments.models import GaussianModel, gaussian_smi  # noqa: E402

Z999 = 3.2905  # two-sided 99.9% quantile of the standard normal


def _gaussian_pair(rho, n, rng):
    x = rng.standard_normal(n)
    return x, rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(n)


def _gaussian_blocks(n, d, mi, seed):
    rho = math.sqrt(1.0 - math.exp(-2.0 * mi / d))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, rho * X + math.sqrt(1.0 - rho**2) * rng.normal(size=(n, d))


CASES: dict[str, tuple[str, float, Callable[[int], float]]] = {}


def case(name: str, test: str, truth: float):
    def wrap(fn):
        CASES[name] = (test, truth, fn)
        return fn
    return wrap


# ------------------------------------------------------------------ tests/test_smi.py
# the original test (4 runs of n = 3000) and the redesigned one (8 runs of n = 12,000: at 4 x 3000 a 10% bias
# hides in the spread)
for _n, _runs, _base, _suffix in ((3000, 4, 10_000, ""), (12000, 8, 15_000, "-n=12000-runs=8")):
    for _est in ("ksg", "ksg2", "kl", "seed"):
        for _rho in (0.0, 0.5, 0.9):
            def _mi(seed, est=_est, rho=_rho, n=_n, runs=_runs, base=_base):
                rng = np.random.default_rng(base + seed)
                return float(np.mean([fastsmi.mi(*_gaussian_pair(rho, n, rng), estimator=est) for _ in range(runs)]))
            case(f"mi_closed_form[{_est}-{_rho}{_suffix}]", "test_smi.py::test_mi_gaussian_closed_form",
                 -0.5 * math.log(1 - _rho**2))(_mi)

# where 8 x 12,000 still hid a 10% bias at rho = 0.5 (the truth 0.144 against the spread of kl and
# of the 1-NN seed estimator): more samples for those two cases only
for _est, _n, _runs in (("kl", 24000, 8), ("seed", 60000, 10), ("kl", 48000, 8), ("seed", 60000, 14)):
    def _mi_big(seed, est=_est, n=_n, runs=_runs):
        rng = np.random.default_rng(16_000 + seed)
        return float(np.mean([fastsmi.mi(*_gaussian_pair(0.5, n, rng), estimator=est) for _ in range(runs)]))
    case(f"mi_closed_form[{_est}-0.5-n={_n}-runs={_runs}]", "test_smi.py::test_mi_gaussian_closed_form",
         -0.5 * math.log(1 - 0.25))(_mi_big)

for _est in ("kl", "wkl", "seed"):
    def _ent(seed, est=_est, sigma=2.5):
        x = sigma * np.random.default_rng(20_000 + seed).standard_normal(20000)
        return fastsmi.entropy(x, estimator=est)
    case(f"entropy_closed_form[{_est}]", "test_smi.py::test_entropy_gaussian_closed_form",
         0.5 * math.log(2 * math.pi * math.e * 2.5**2))(_ent)

for _d, _mi_val, _n, _m in ((2, 2.0, 3000, 400), (10, 4.0, 3000, 400), (5, 1.0, 3000, 400),
                            (2, 2.0, 1000, 4000), (10, 4.0, 1000, 4000)):
    def _smi(seed, d=_d, mi=_mi_val, n=_n, m=_m):
        X, Y = GaussianModel(d, mi).sample(n, rng=np.random.default_rng(30_000 + seed))
        return fastsmi.smi(X, Y, n_projections=m, seed=seed).value
    case(f"smi_exact[d={_d}-mi={_mi_val}-n={_n}-m={_m}]", "test_smi.py::test_smi_matches_exact_gaussian_smi",
         gaussian_smi(_mi_val, _d))(_smi)


@case("smi_independent", "test_smi.py::test_smi_near_zero_under_independence", 0.0)
def _smi_indep(seed):
    rng = np.random.default_rng(40_000 + seed)
    X = rng.standard_normal((3000, 6))
    Y = rng.exponential(size=(3000, 4))
    return fastsmi.smi(X, Y, n_projections=300, seed=seed).value


@case("smi_rotation_difference", "test_smi.py::test_smi_invariant_to_separate_rotations", 0.0)
def _smi_rot(seed):
    from scipy.stats import ortho_group

    X, Y = GaussianModel(4, 1.5).sample(2000, rng=np.random.default_rng(50_000 + seed))
    A = ortho_group.rvs(4, random_state=2 * seed + 1)
    B = ortho_group.rvs(4, random_state=2 * seed + 2)
    c = fastsmi.smi(X @ A, Y @ B, n_projections=400, seed=3 * seed + 1)
    d = fastsmi.smi(X, Y, n_projections=400, seed=3 * seed + 2)
    return c.value - d.value


@case("smi_labels_log2", "test_smi.py::test_discrete_labels_recover_label_information", math.log(2))
def _smi_labels(seed):
    rng = np.random.default_rng(60_000 + seed)
    labels = rng.integers(0, 2, 3000)
    X = rng.standard_normal((3000, 1)) + 20.0 * labels[:, None]
    return fastsmi.smi(X, labels, y_discrete=True, n_projections=16, seed=seed).value


@case("smi_orthonormal", "test_smi.py::test_orthonormal_method_is_seeded_and_close_to_sphere",
      gaussian_smi(2.0, 6))
def _smi_ortho(seed):
    X, Y = GaussianModel(6, 2.0).sample(2000, rng=np.random.default_rng(70_000 + seed))
    return fastsmi.smi(X, Y, n_projections=300, method="orthonormal", seed=seed).value


# ------------------------------------------------------------------ tests/test_mi_closed_form.py
for _d, _est, _k, _n in ((1, "ksg", 5, 3000), (2, "ksg", 5, 3000), (5, "wkl", 10, 5000)):
    # one run; the test averages `runs` independent runs, whose mean has sd / sqrt(runs)
    def _full(seed, d=_d, est=_est, k=_k, n=_n):
        X, Y = GaussianModel(d, 1.0).sample(n, rng=np.random.default_rng(80_000 + seed))
        return fastsmi.mi(X, Y, estimator=est, k=k)
    case(f"full_mi_one_run[d={_d}-{_est}-k={_k}-n={_n}]",
         "test_mi_closed_form.py::test_full_dimensional_mi_matches_gaussian_closed_form", 1.0)(_full)


# the statistic the test asserts on: the mean of `runs` runs (d = 1, 2 with KSG; the weighted KL moves
# from d = 5, where its spread hid a 78% bias, to d = 3 at n = 10,000)
for _d, _est, _k, _n, _runs in ((1, "ksg", 5, 3000, 6), (2, "ksg", 5, 3000, 6), (3, "wkl", 10, 10000, 4)):
    def _full_mean(seed, d=_d, est=_est, k=_k, n=_n, runs=_runs):
        return float(np.mean([fastsmi.mi(*GaussianModel(d, 1.0).sample(n, rng=np.random.default_rng([85_000 + seed, r])),
                                         estimator=est, k=k) for r in range(runs)]))
    case(f"full_mi_mean[d={_d}-{_est}-k={_k}-n={_n}-runs={_runs}]",
         "test_mi_closed_form.py::test_full_dimensional_mi_matches_gaussian_closed_form", 1.0)(_full_mean)


# ------------------------------------------------------------------ tests/test_fulldim.py
for _d in (1, 2):
    for _v in (1, 2):
        def _ksg_low(seed, d=_d, v=_v):
            from fastsmi import _fulldim
            return float(np.mean([_fulldim.ksg_mi(*_gaussian_blocks(3000, d, 1.0, 90_000 + 2 * seed + s), k=3,
                                                  variant=v) for s in (0, 1)]))
        case(f"ksg_low_dim[d={_d}-v={_v}]", "test_fulldim.py::test_ksg_gaussian_closed_form_low_dim", 1.0)(_ksg_low)

for _v in (1, 2):
    def _ksg_5d(seed, v=_v):
        from fastsmi import _fulldim
        X, Y = _gaussian_blocks(4000, 5, 1.0, 100_000 + seed)
        return _fulldim.ksg_mi(X, Y, k=1, variant=v)
    case(f"ksg_5d[v={_v}]", "test_fulldim.py::test_ksg_gaussian_closed_form_5d", 1.0)(_ksg_5d)


# KSG in a 6-D joint (d = 3) at n = 10,000, k = 3: its own bias is about 1%, unlike the 10-D joint
for _est in ("ksg", "ksg2"):
    for _n in (10000, 20000):
        def _ksg_3d(seed, est=_est, n=_n):
            X, Y = _gaussian_blocks(n, 3, 1.0, 105_000 + seed)
            return fastsmi.mi(X, Y, estimator=est, k=3)
        case(f"ksg_3d[{_est}-n={_n}-k=3]", "test_fulldim.py::test_ksg_gaussian_closed_form_3d", 1.0)(_ksg_3d)


@case("ksg_independent", "test_fulldim.py::test_ksg_independent_is_near_zero", 0.0)
def _ksg_indep(seed):
    from fastsmi import _fulldim
    rng = np.random.default_rng(110_000 + seed)
    return _fulldim.ksg_mi(rng.normal(size=(3000, 3)), rng.normal(size=(3000, 2)), k=3)


for _d in (1, 2, 3):
    def _kl_ent(seed, d=_d):
        from fastsmi import _fulldim
        rng = np.random.default_rng(d)  # the test's fixed covariance
        A = rng.normal(size=(d, d)) + 2 * np.eye(d)
        C = A @ A.T
        exact = 0.5 * (d * math.log(2 * math.pi * math.e) + math.log(np.linalg.det(C)))
        ests = []
        for s in (0, 1):
            Z = np.random.default_rng(120_000 + 2 * seed + s).normal(size=(3000, d)) @ A.T
            ests.append(_fulldim.kl_entropy(Z, weights=[1.0]))
            ests.append(_fulldim.kl_entropy(Z, weights=[1.0], whiten=True))
        return float(np.mean(ests)) - exact
    case(f"kl_entropy_error[d={_d}]", "test_fulldim.py::test_kl_entropy_gaussian_closed_form", 0.0)(_kl_ent)


@case("ross_log4_error", "test_fulldim.py::test_ross_separated_classes_give_log_of_class_count", 0.0)
def _ross(seed):
    from fastsmi import _fulldim
    rng = np.random.default_rng(130_000 + seed)
    labels = rng.integers(0, 4, size=2000)
    X = rng.normal(size=(2000, 2)) + 20.0 * labels[:, None]
    p = np.bincount(labels) / 2000
    return _fulldim.ross_mi(X, labels, k=3) - float(-(p * np.log(p)).sum())


# ------------------------------------------------------------------ tests/test_ksmi.py
for _n, _m in ((3000, 150), (1500, 100)):
    def _ksmi(seed, n=_n, m=_m):
        X, Y = GaussianModel(6, 2.0).sample(n, rng=np.random.default_rng(140_000 + seed))
        return fastsmi.smi(X, Y, n_projections=m, slice_dim=2, seed=seed).value
    case(f"ksmi_exact[n={_n}-m={_m}]", "test_ksmi.py::test_ksmi_matches_exact_gaussian_value",
         float("nan"))(_ksmi)  # truth: exact_ksmi_gaussian (Monte Carlo), filled in at run time


@case("ksmi_full_dim_minus_mi", "test_ksmi.py::test_full_dimensional_slice_equals_mi", 0.0)
def _ksmi_full(seed):
    X, Y = GaussianModel(3, 1.0).sample(2000, rng=np.random.default_rng(145_000 + seed))
    return fastsmi.smi(X, Y, n_projections=20, slice_dim=3, seed=seed).value - fastsmi.mi(X, Y)


# ------------------------------------------------------------------ tests/test_synthetic.py
for _d, _mi_val, _est in ((1, 1.0, "ksg"), (1, 1.0, "seed"), (3, 1.5, "ksg")):
    def _syn(seed, d=_d, mi=_mi_val, est=_est):
        from fastsmi.experiments import synthetic as syn
        X, Y = GaussianModel(d, mi).sample(2000, rng=np.random.default_rng(150_000 + seed))
        return syn.full_mi(X, Y, estimator=est, k=5)
    case(f"synthetic_full_mi[d={_d}-{_est}]", "test_synthetic.py::test_full_mi_against_closed_form",
         _mi_val)(_syn)


# redesign: larger n in 1-D, and d = 2 (a 4-D joint, where KSG is unbiased) instead of d = 3
for _d, _mi_val, _est, _n in ((1, 1.0, "ksg", 6000), (1, 1.0, "seed", 24000), (2, 1.0, "ksg", 4000), (2, 1.0, "ksg", 8000)):
    def _syn2(seed, d=_d, mi=_mi_val, est=_est, n=_n):
        from fastsmi.experiments import synthetic as syn
        X, Y = GaussianModel(d, mi).sample(n, rng=np.random.default_rng(155_000 + seed))
        return syn.full_mi(X, Y, estimator=est, k=5)
    case(f"synthetic_full_mi[d={_d}-{_est}-n={_n}]", "test_synthetic.py::test_full_mi_against_closed_form",
         _mi_val)(_syn2)


# ------------------------------------------------------------------ tests/test_mnist.py
def _mnist_noise(seed, n=3000, m=8):
    import torch

    from fastsmi.mnist.infoplane import measure_infoplane

    class AddNoise(torch.nn.Module):
        def forward(self, x):
            return x + 0.5 * torch.randn_like(x)

    g = torch.Generator().manual_seed(160_000 + seed)
    x = torch.randn(n, 1, generator=g, dtype=torch.float64)
    labels = (x[:, 0] > 0).long().numpy()
    res = measure_infoplane(torch.nn.Sequential(AddNoise()), x, labels, layers=["0"], n_projections=m, seed=seed,
                            n_jobs=1)
    return res.value("0", "smi_xl"), res.value("0", "smi_ly")


def _sign_information(sigma: float = 0.5) -> float:
    """I(X + sigma N; sign X) for X, N standard normal, by quadrature: h(L) - h(L | sign X)."""
    from scipy import integrate, stats

    s = math.sqrt(1 + sigma**2)

    def half(l):  # density of L given X > 0, times 1/2
        return stats.norm.pdf(l, scale=s) * stats.norm.cdf(l / (sigma * s))

    def plogp(f):
        return f * math.log(f) if f > 0 else 0.0

    h_l = 0.5 * math.log(2 * math.pi * math.e * s * s)
    h_cond = -integrate.quad(lambda l: plogp(2 * half(l)), -np.inf, np.inf, limit=200)[0]
    return h_l - h_cond


for _n in (3000, 12000):
    _suffix = "" if _n == 3000 else f"[n={_n}]"
    case(f"mnist_smi_xl{_suffix}", "test_mnist.py::test_measure_against_gaussian_closed_form",
         0.5 * math.log(5.0))(lambda seed, n=_n: _mnist_noise(seed, n=n)[0])
    case(f"mnist_smi_ly{_suffix}", "test_mnist.py::test_measure_against_gaussian_closed_form",
         _sign_information())(lambda seed, n=_n: _mnist_noise(seed, n=n)[1])


def _noise_ratio(seed):
    import torch

    from fastsmi.mnist.infoplane import tap_activations
    from fastsmi.mnist.model import SeedClassifier

    torch.manual_seed(2)
    net = SeedClassifier(channels=(2, 3, 4), hidden=5)
    x = torch.randn(4, 1, 28, 28)
    a = tap_activations(net, x, layers=["layer4"], seed=2 * seed + 1)["layer4"]
    c = tap_activations(net, x, layers=["layer4"], seed=2 * seed + 2)["layer4"]
    return float(np.max(np.abs(a - c)) / np.max(np.abs(a)))


def _mnist_independent(seed):
    import torch

    from fastsmi.mnist import data as D
    from fastsmi.mnist.infoplane import measure_infoplane

    d = D.load_digits_as_mnist().subset(n_test=400)
    x = torch.from_numpy(D.normalize_images(d.x_test))
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 3))

    class Replace(torch.nn.Module):
        def forward(self, x):
            return torch.randn(x.shape[0], 5)

    net.append(Replace())
    res = measure_infoplane(net, x, d.y_test, layers=["2"], n_projections=30, seed=seed, n_jobs=1)
    return tuple(next(r for r in res.records if r["quantity"] == q)["estimate"] for q in ("smi_xl", "smi_ly"))


case("mnist_independent_smi_xl", "test_mnist.py::test_independent_layer_has_near_zero_smi", 0.0)(
    lambda seed: _mnist_independent(seed)[0])
case("mnist_independent_smi_ly", "test_mnist.py::test_independent_layer_has_near_zero_smi", 0.0)(
    lambda seed: _mnist_independent(seed)[1])


case("mnist_noise_ratio", "test_mnist.py::test_noise_kept_at_inference_and_seeded", float("nan"))(_noise_ratio)


# ------------------------------------------------------------------ conditional truths (directions given)
# The error of an SMI estimate has two parts: the Monte Carlo error of averaging over m random
# directions and the estimation error of each slice from n samples.  For Gaussian data with
# Cov(X, Y) = rho I the exact MI of the slice (theta, phi) is -1/2 log(1 - rho^2 (theta . phi)^2)
# (k-SMI: -1/2 log det(I - rho^2 C C'), C = U'V), so the mean of the exact slice values over the
# directions smi() drew (rebuilt from its seed by the documented recipe) removes the first part.
# Each case returns estimate - conditional truth + exact SMI: distributed around the exact SMI,
# so a 10% bias of the estimator is a shift of 10% of the truth.
def smi_conditional(d, mi, n, m, seed, *, method=None, slice_dim=1):
    """(estimate, conditional truth) for one seed, with the tests' own helpers (tests/test_smi.py)."""
    from fastsmi.experiments.models import gaussian_rho
    from test_smi import directions_of, gaussian_blocks, gaussian_slice_mi

    rho = gaussian_rho(mi, d)
    X, Y = gaussian_blocks(n, d, rho, np.random.default_rng(seed))
    res = fastsmi.smi(X, Y, n_projections=m, seed=seed, method=method, slice_dim=slice_dim)
    theta, phi = directions_of(seed, m, d, method=method or "sphere", slice_dim=slice_dim)
    return res.value, float(gaussian_slice_mi(theta, phi, rho).mean())


# the designs tried (an SMI of 0.03-0.036 at d = 5, I = 1 and d = 10, I = 4 stayed below the spread at
# any affordable n and m; at I = 5 and 10 it does not), the tests' last
for _d, _mi_val, _n, _m in ((2, 2.0, 2000, 100), (5, 5.0, 2000, 100), (10, 10.0, 2000, 250),
                            (5, 5.0, 4000, 100), (10, 10.0, 8000, 100)):
    def _smi_c(seed, d=_d, mi=_mi_val, n=_n, m=_m):
        est, cond = smi_conditional(d, mi, n, m, 200_000 + seed)
        return est - cond + gaussian_smi(mi, d)
    case(f"smi_conditional[d={_d}-mi={_mi_val}-n={_n}-m={_m}]", "test_smi.py::test_smi_matches_exact_gaussian_smi",
         gaussian_smi(_mi_val, _d))(_smi_c)

# d = 6, I = 2 (SMI 0.045) needs a spread of 0.0008; at I = 6 (0.090) or d = 3, I = 3 (0.218) both pass
for _d, _mi_val, _n, _m in ((6, 6.0, 2000, 300), (3, 3.0, 2000, 150)):
    def _ortho_c(seed, d=_d, mi=_mi_val, n=_n, m=_m):
        est, cond = smi_conditional(d, mi, n, m, 210_000 + seed, method="orthonormal")
        return est - cond + gaussian_smi(mi, d)
    case(f"smi_orthonormal_conditional[d={_d}-mi={_mi_val}-n={_n}-m={_m}]",
         "test_smi.py::test_orthonormal_method_is_seeded_and_close_to_sphere", gaussian_smi(_mi_val, _d))(_ortho_c)

for _n, _m in ((1500, 100), (3000, 50)):
    def _ksmi_c(seed, n=_n, m=_m):
        est, cond = smi_conditional(6, 2.0, n, m, 220_000 + seed, slice_dim=2)
        return est - cond + KSMI_TRUTH
    case(f"ksmi_conditional[n={_n}-m={_m}]", "test_ksmi.py::test_ksmi_matches_exact_gaussian_value",
         float("nan"))(_ksmi_c)  # truth: exact_ksmi_gaussian, filled in at run time


KSMI_TRUTH = float("nan")  # set by main() before a ksmi case runs


# ------------------------------------------------------------------ tests/test_backends.py
# one slice of a bivariate Gaussian (rho = 0.8, I = 0.511) on the Cython backend: the test's n = 4000,
# and larger n, where a 10% bias (0.051) hid in the spread of one run at 4000
for _n in (4000, 16000):
    def _cy_slice(seed, n=_n):
        rng = np.random.default_rng(170_000 + seed)
        x, y = _gaussian_pair(0.8, n, rng)
        return fastsmi.smi(x[:, None], y[:, None], n_projections=1, k=5, seed=seed, backend="cython").value
    case(f"cython_ksg_slice[n={_n}]", "test_backends.py::test_cython_ksg_recovers_gaussian_slice_mi",
         -0.5 * math.log(1 - 0.8**2))(_cy_slice)


# ------------------------------------------------------------------ tests/test_cli_and_docs.py
def _demo_json(argv):
    import contextlib
    import io

    from fastsmi import cli

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(argv) == 0
    return json.loads(buf.getvalue())


# the test's first design (d = 3, I = 1, n = 800, m = 200: SMI 0.080 against the exact SMI, within
# 4 stderr + 0.03), and the demo's estimate against the exact SMI of the directions it drew
# (rebuilt from --seed, with the model's rotations): estimate - conditional truth + exact SMI
for _d, _mi_val, _n, _m in ((3, 1.0, 800, 200),):
    def _demo(seed, d=_d, mi=_mi_val, n=_n, m=_m):
        out = _demo_json(["demo", "--dim", str(d), "--mi", str(mi), "--n", str(n), "-m", str(m), "--seed", str(seed),
                          "--json", "-j", "1"])
        return out["estimate"]
    case(f"cli_demo[d={_d}-mi={_mi_val}-n={_n}-m={_m}]", "test_cli_and_docs.py::test_demo_json_compares_with_exact",
         gaussian_smi(_mi_val, _d))(_demo)

for _d, _mi_val, _n, _m in ((3, 1.0, 800, 200), (3, 3.0, 2000, 100)):
    def _demo_c(seed, d=_d, mi=_mi_val, n=_n, m=_m):
        from fastsmi.experiments.models import gaussian_rho
        from test_smi import directions_of, gaussian_slice_mi

        out = _demo_json(["demo", "--dim", str(d), "--mi", str(mi), "--n", str(n), "-m", str(m), "--seed", str(seed),
                          "--json", "-j", "1"])
        # the demo's data are GaussianModel(d, mi).sample(n, rng=default_rng(seed)): X = X0 A', Y = Y0 B' with
        # the rotations drawn first, so the slice (theta, phi) is the canonical slice (theta A, phi B)
        A, B = GaussianModel(d, mi).draw_rotations(np.random.default_rng(seed))
        theta, phi = directions_of(seed, m, d)
        cond = float(gaussian_slice_mi(theta @ A, phi @ B, gaussian_rho(mi, d)).mean())
        return out["estimate"] - cond + gaussian_smi(mi, d)
    case(f"cli_demo_conditional[d={_d}-mi={_mi_val}-n={_n}-m={_m}]",
         "test_cli_and_docs.py::test_demo_json_compares_with_exact", gaussian_smi(_mi_val, _d))(_demo_c)


# ------------------------------------------------------------------ tests/test_ties.py
# Every statistic the `TOL` checks assert on, for one seed (each test's data, its seed replaced);
# computed once per (seed, n) and shared by the cases below.
_TIES_CACHE: dict = {}


def ties_statistics(seed: int, n: int) -> dict:
    key = (seed, n)
    if key in _TIES_CACHE:
        return _TIES_CACHE[key]
    from scipy import stats

    from test_ties import mixture, relu

    base = 230_000 + 10 * seed
    out = {}
    x, y = mixture(n, base)
    for est in ("ksg", "ksg2"):
        out[f"mixture_mi-{est}"] = fastsmi.mi(x, y, estimator=est)
        out[f"mixture_smi-{est}"] = fastsmi.smi(np.c_[x, x], y, n_projections=8, estimator=est, seed=seed).value
    x, y = mixture(n, base + 1)
    labels = x.astype(int)
    out["labels_mi"] = fastsmi.mi(y, labels, y_discrete=True)
    out["labels_mi_2d"] = fastsmi.mi(np.c_[y, 2 * y], labels, y_discrete=True)
    out["labels_smi"] = fastsmi.smi(np.c_[y, y], labels, y_discrete=True, n_projections=8, seed=seed).value
    x, y = mixture(n, base + 2)
    labels = (y > 1.5).astype(int)
    out["tied_x_labels_mi"] = fastsmi.mi(x, labels, y_discrete=True)
    out["tied_x_labels_smi"] = fastsmi.smi(np.c_[x, x], labels, y_discrete=True, n_projections=4, seed=seed).value
    out["tied_x_labels_mi_2d"] = fastsmi.mi(np.c_[x, x], labels, y_discrete=True)
    x, y = mixture(n, base + 3)
    rng = np.random.default_rng(base + 3)
    out["mixture_full_2x"] = fastsmi.mi(np.c_[x, 2 * x], y)
    out["mixture_full_extra_y"] = fastsmi.mi(x, np.c_[y, rng.standard_normal(n)])
    for est in ("ksg", "ksg2"):
        out[f"mixture_ksmi-{est}"] = fastsmi.smi(np.c_[x, 2 * x], np.c_[y, y], slice_dim=2, n_projections=2,
                                                 seed=seed, estimator=est).value
    x2, y2 = mixture(n, base + 4)
    out["mixture_ksmi_double"] = fastsmi.smi(np.c_[x, x2], np.c_[y, y2], slice_dim=2, n_projections=4,
                                             seed=seed).value
    x, y = relu(n, base + 5)
    for est in ("ksg", "ksg2"):
        out[f"relu_mi-{est}"] = fastsmi.mi(x, y, estimator=est)
    w = np.random.default_rng(base + 6).standard_normal((n, 2))
    out["relu_full"] = fastsmi.mi(np.c_[x, w[:, 0]], np.c_[y, w[:, 1]])
    _TIES_CACHE[key] = out
    return out


def _ties_truths() -> dict:
    from scipy import stats

    from test_ties import mixture_mi, relu_mi

    p1 = stats.norm.sf(1.5 - np.arange(4))

    def h(p):
        return -(p * np.log(p) + (1 - p) * np.log(1 - p))

    mix, rel, tied = mixture_mi(), relu_mi(), float(h(p1.mean()) - h(p1).mean())
    truths = {f"mixture_mi-{e}": mix for e in ("ksg", "ksg2")}
    truths.update({f"mixture_smi-{e}": mix for e in ("ksg", "ksg2")})
    truths.update(labels_mi=mix, labels_mi_2d=mix, labels_smi=mix, tied_x_labels_mi=tied, tied_x_labels_smi=tied,
                  tied_x_labels_mi_2d=tied, mixture_full_2x=mix, mixture_full_extra_y=mix,
                  mixture_ksmi_double=2 * mix, relu_full=rel)
    truths.update({f"mixture_ksmi-{e}": mix for e in ("ksg", "ksg2")})
    truths.update({f"relu_mi-{e}": rel for e in ("ksg", "ksg2")})
    return truths


for _n in (3000, 20000):
    for _stat, _truth in _ties_truths().items():
        case(f"ties[{_stat}-n={_n}]", "test_ties.py (TOL)", _truth)(
            lambda seed, stat=_stat, n=_n: ties_statistics(seed, n)[stat])


# ------------------------------------------------------------------ tests/test_invariance.py
# X + 1e13 rounds X to the spacing of doubles near 1e13 (2^-9 = 0.00195); the test checks exactly
# (rtol 1e-12) that the slices are those of the rounded data, and bounds how far that rounding moves
# the slices: the largest |shifted - base| over the 6 slices, a deterministic function of the data
# whose spread over data seeds is swept here (truth 0: no bias to detect)
@case("invariance_offset_rounding_shift", "test_invariance.py::test_extreme_scales_and_offsets", 0.0)
def _offset_shift(seed):
    from test_invariance import gaussian, slices

    X, Y = gaussian(240_000 + seed, n=400)
    return float(np.max(np.abs(slices(X + 1e13, Y, "auto") - slices(X, Y, "auto"))))


# ------------------------------------------------------------------ the sweep
def _fail_probability(mean_error: float, sd: float, tol: float) -> float:
    """P(|error| > tol) for a normal error with this mean and sd."""
    from scipy.stats import norm

    return float(norm.sf((tol - mean_error) / sd) + norm.cdf((-tol - mean_error) / sd))


def detectable_bias(bias: float, sd: float, tol: float, truth: float, power: float = 0.9) -> float:
    """Smallest relative bias (either sign) that fails the test in ``power`` of the seeds (normal model)."""
    if not truth or sd <= 0:
        return float("nan")
    lo, hi = 0.0, 10.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        shift = mid * abs(truth)
        p = min(_fail_probability(bias + shift, sd, tol), _fail_probability(bias - shift, sd, tol))
        lo, hi = (mid, hi) if p < power else (lo, mid)
    return hi


def summarize(values: np.ndarray, truth: float) -> dict:
    mean = float(values.mean())
    sd = float(values.std(ddof=1))
    out = dict(seeds=int(values.size), truth=truth, mean=mean, sd=sd, min=float(values.min()),
               max=float(values.max()))
    if math.isfinite(truth):
        bias = mean - truth
        err = np.abs(values - truth)
        # the normal quantile, or the largest error seen if a heavy tail exceeds it
        tol = max(abs(bias) + Z999 * sd, float(err.max()))
        shift = 0.1 * abs(truth)
        power = float(np.mean((np.abs(values + shift - truth) > tol) & (np.abs(values - shift - truth) > tol)))
        out.update(bias=bias, max_abs_error=float(err.max()), q99_abs_error=float(np.quantile(err, 0.99)),
                   tol_999=tol, power_10pct=power if truth != 0 else None)
    out["values"] = [float(v) for v in values]
    return out


def table(results: dict, names: list[str]) -> str:
    def f(v, nd=4):
        return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"

    rows = ["| case | truth | mean | bias | sd | max abs error | tolerance | power at 10% | "
            "bias found in 90% | seeds |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        if name not in results:
            continue
        r = results[name]
        if "bias" in r:
            r = dict(r, tol_999=max(r["tol_999"], r["max_abs_error"]))
            if "values" in r and r["truth"]:
                v, shift = np.array(r["values"]), 0.1 * abs(r["truth"])
                r["power_10pct"] = float(np.mean((np.abs(v + shift - r["truth"]) > r["tol_999"])
                                                 & (np.abs(v - shift - r["truth"]) > r["tol_999"])))
        power = r.get("power_10pct")
        found = detectable_bias(r["bias"], r["sd"], r["tol_999"], r["truth"]) if "bias" in r else float("nan")
        rows.append(f"| {name} | {f(r['truth'])} | {f(r['mean'])} | {f(r.get('bias'))} | {f(r['sd'])} | "
                    f"{f(r.get('max_abs_error'))} | {f(r.get('tol_999'))} | "
                    f"{'' if power is None else f'{power:.2f}'} | "
                    f"{'' if not math.isfinite(found) else f'{100 * found:.0f}%'} | {r['seeds']} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--cases", default="*", help="fnmatch pattern(s), comma-separated")
    p.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    p.add_argument("--list", action="store_true")
    p.add_argument("--table", action="store_true", help="print the stored results as a markdown table")
    args = p.parse_args(argv)
    patterns = args.cases.split(",")
    names = [n for n in CASES if any(fnmatch.fnmatch(n, pat) for pat in patterns)]
    if args.list:
        print("\n".join(f"{n}  ({CASES[n][0]})" for n in names))
        return 0
    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    if args.table:
        results = {}
        for path in sorted(out_path.parent.glob("results*.json")):
            results.update(json.loads(path.read_text()))
        print(table(results, names))
        return 0
    for name in names:
        test, truth, fn = CASES[name]
        if name.startswith(("ksmi_exact", "ksmi_conditional")):
            global KSMI_TRUTH
            from test_ksmi import exact_ksmi_gaussian
            truth = KSMI_TRUTH = float(exact_ksmi_gaussian(6, 2.0, 2, n_mc=200_000)[0])
        t0 = time.perf_counter()
        values = np.array([fn(s) for s in range(args.seeds)], dtype=float)
        summary = summarize(values, truth)
        summary.update(test=test, seconds=round(time.perf_counter() - t0, 1))
        results[name] = summary
        print(name, json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in summary.items()}),
              flush=True)
        out_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
