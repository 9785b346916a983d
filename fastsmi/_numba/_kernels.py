"""Numba kernels: one-slice estimators and the parallel drivers over slices.

Each one-slice estimator takes two prepared 1-D samples (or one sample and
integer class codes) and a per-thread workspace.  The drivers run ``prange``
over per-thread chunks of the slices of one block of projections; each slice
is computed independently, so results do not depend on the thread count.

Estimator families (``family`` codes are those of :mod:`fastsmi._plan`):

* KSG (Kraskov, Stögbauer & Grassberger 2004), algorithms 1 and 2, max-norm;
* KL: ``sum_j coef[., j] * mean_i log r_ij`` over the marginals and the
  Euclidean joint, from which (weighted) Kozachenko-Leonenko MI is assembled;
* Ross (2014) KSG for a continuous slice against discrete labels;
* KL for discrete labels: ``H(x) - sum_c p_c H(x | c)``.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange

from .._config import JIT_OPTIONS, PARALLEL_JIT_OPTIONS, WHITEN_MIN_RESIDUAL
from .._plan import FAMILY_KSG
from ._joint import joint_log_means, knn_all, kth_all, sort_joint
from .sort import sort_values
from .workspace import alloc_workspace
from ._neighbors import (
    METRIC_EUCLIDEAN,
    METRIC_MAX,
    count_all_strict,
    count_all_within,
    count_pair,
    knn_sorted,
    kth_sorted,
    pair_moments,
)

STATUS_OK = 0
STATUS_CONSTANT_X = 1
STATUS_CONSTANT_Y = 2


# ----------------------------------------------------------------------------
# preparing one slice
# ----------------------------------------------------------------------------
@njit(**JIT_OPTIONS)
def standardize_column(P, s, jitter, out, tol):
    """``out = (P[:, s] - mean) / std + jitter``; False if the column is constant.

    A column whose range is at most ``tol`` (the rounding error of the
    projection) is constant: its spread is rounding noise, not data.  The
    column is read once, strided, into ``out``; the other passes run on ``out``.
    """
    n = P.shape[0]
    lo = P[0, s]
    hi = P[0, s]
    total = 0.0
    for i in range(n):
        v = P[i, s]
        out[i] = v
        total += v
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    if not hi - lo > tol:
        return False
    mean = total / n
    ss = 0.0
    for i in range(n):
        dv = out[i] - mean
        ss += dv * dv
    std = np.sqrt(ss / n)
    for i in range(n):
        out[i] = (out[i] - mean) / std + jitter[i]
    return True


@njit(**JIT_OPTIONS)
def whiten_pair(x, y, z1, u2, z2):
    """Whiten the pair by its sample covariance (Cholesky).

    Writes ``z1`` (standardised x), ``u2`` (standardised y) and ``z2`` (y with
    x regressed out, unit variance), and returns ``-0.5 * log(1 - rho**2)``:
    ``H(x, y) = H(z1, z2) + log(sx * sy) + 0.5 * log(1 - rho**2)``.
    Returns NaN when the pair is perfectly linearly dependent.
    """
    n = x.shape[0]
    mx, my, sxx, syy, sxy = pair_moments(x, y)
    rho = sxy / np.sqrt(sxx * syy)
    one_minus = 1.0 - rho * rho
    if not one_minus > WHITEN_MIN_RESIDUAL:
        return np.nan
    sx = np.sqrt(sxx / n)
    sy = np.sqrt(syy / n)
    root = np.sqrt(one_minus)
    for i in range(n):
        a = (x[i] - mx) / sx
        b = (y[i] - my) / sy
        z1[i] = a
        u2[i] = b
        z2[i] = (b - rho * a) / root
    return -0.5 * np.log(one_minus)


# ----------------------------------------------------------------------------
# one-slice estimators
#
# The metric reaches the searches as a literal constant, so each metric gets its
# own compiled search with the other metric's arithmetic removed (KSG's max-norm
# slices measured about 5% slower with the metric as a typed value).  The mode
# flags of grid_knn_all are typed values (np.bool_), not literals, which would
# each compile a copy of it.
# ----------------------------------------------------------------------------
@njit(**JIT_OPTIONS)
def ksg1_slice(x, y, k, search, lanes, psi, ws):
    """KSG (algorithm 1) estimate of I(x; y) without the constant ``psi(k) + psi(n)``.

    Returns ``-mean_i [psi(n_x + 1) + psi(n_y + 1)]``, the counts strictly inside
    the k-th joint distance.  ``lanes``: see :func:`~fastsmi._numba._joint.kth_all`.
    """
    n = x.shape[0]
    sort_joint(x, y, ws, search, k)
    eps_all = ws.kth
    kth_all(ws, k, METRIC_MAX, search, eps_all, lanes)
    count_x, count_y = ws.count_x, ws.count_y
    count_all_strict(ws.xs, ws.ys, ws.y_rank, eps_all, count_x, count_y)
    total = 0.0
    for p in range(n):
        total += psi[count_x[p] + 1] + psi[count_y[p] + 1]
    return -total / n


@njit(**JIT_OPTIONS)
def ksg2_slice(x, y, k, search, psi, ws):
    """KSG (algorithm 2) estimate of I(x; y) without the constant ``psi(k) + psi(n) - 1/k``.

    Returns ``-mean_i [psi(n_x) + psi(n_y)]``, the counts within the marginal
    extents of the k nearest joint neighbours.
    """
    n = x.shape[0]
    sort_joint(x, y, ws, search, k)
    xs, ys, ni = ws.xs, ws.ys, ws.ni
    y_rank = ws.y_rank
    knn_all(ws, METRIC_MAX, search)
    total = 0.0
    for p in range(n):
        yp = y_rank[p]
        x0 = xs[p]
        y0 = ys[yp]
        ex = 0.0
        ey = 0.0
        for j in range(k):
            q = ni[p, j]
            dx = abs(x[q] - x0)
            dy = abs(y[q] - y0)
            if dx > ex:
                ex = dx
            if dy > ey:
                ey = dy
        nx, ny = count_pair(xs, ys, p, yp, ex, ey, False)
        total += psi[nx] + psi[ny]
    return -total / n


@njit(**JIT_OPTIONS)
def mean_log_knn_1d(xs, k, out_scratch, acc):
    """``acc[j] += mean_i log r_{i,j+1}`` for sorted 1-D data ``xs``."""
    n = xs.shape[0]
    sums = np.zeros(k)
    for p in range(n):
        knn_sorted(xs, p, k, out_scratch)
        for j in range(k):
            sums[j] += np.log(out_scratch[j])
    for j in range(k):
        acc[j] += sums[j] / n


@njit(**JIT_OPTIONS)
def kl_slice(x, y, k, coef, whiten, search, lanes, ws, wbuf):
    """``sum_j coef[0,j] Lx_j + coef[1,j] Ly_j + coef[2,j] Lxy_j`` (+ whitening term).

    ``L*_j`` is the mean log distance to the j-th neighbour: 1-D for the
    marginals, Euclidean for the joint.  With ``whiten`` the joint is whitened
    by its sample covariance and ``-0.5 log(1 - rho^2)`` is added.  ``lanes``:
    see :func:`~fastsmi._numba._joint.joint_log_means` (``LANES_ALL`` when any
    ``coef[2, j < k - 1]`` is non-zero, else the k-th distance alone is sought).
    """
    extra = 0.0
    a = x
    b = y
    ym = y
    if whiten:
        z1 = wbuf[0]
        u2 = wbuf[1]
        z2 = wbuf[2]
        extra = whiten_pair(x, y, z1, u2, z2)
        if np.isnan(extra):
            return np.nan
        a = z1
        b = z2
        ym = u2
    lx = np.zeros(k)
    ly = np.zeros(k)
    lxy = np.zeros(k)
    sort_joint(a, b, ws, search, k)
    xs, ys, scratch = ws.xs, ws.ys, ws.dists
    mean_log_knn_1d(xs, k, scratch, lx)
    joint_log_means(ws, k, METRIC_EUCLIDEAN, search, lanes, lxy)
    if whiten:
        ysorted = ws.ysx  # the x-ordered copy is no longer needed
        sort_values(ym, ws, ws.y_rank, ysorted)
        mean_log_knn_1d(ysorted, k, scratch, ly)
    else:
        mean_log_knn_1d(ys, k, scratch, ly)
    total = extra
    for j in range(k):
        total += coef[0, j] * lx[j] + coef[1, j] * ly[j] + coef[2, j] * lxy[j]
    return total


@njit(**JIT_OPTIONS)
def _class_sorted(x, codes, class_start, ws):
    """Sort ``x`` into ``ws.xs``; gather each class's values, sorted, into ``ws.ysx`` (CSR)."""
    n = x.shape[0]
    xs, cls_vals, order = ws.xs, ws.ysx, ws.order
    sort_values(x, ws, order, xs)
    n_classes = class_start.shape[0] - 1
    fill = class_start[:n_classes].copy()
    for p in range(n):
        i = order[p]
        xs[p] = x[i]
        c = codes[i]
        cls_vals[fill[c]] = x[i]
        fill[c] += 1


@njit(**JIT_OPTIONS)
def ross_slice(x, codes, class_start, k, psi, ws):
    """Ross (2014) estimate without constants: ``-mean_i psi(m_i)``.

    ``m_i`` counts the other points of the whole sample within the distance from
    point i to its k-th neighbour in its own class.  The radii are found per
    class (``ws.kth``, in class order), then all counts by grouped branch-free
    searches (``ws.count_x``).
    """
    n = x.shape[0]
    _class_sorted(x, codes, class_start, ws)
    xs, cls_vals, radius, counts = ws.xs, ws.ysx, ws.kth, ws.count_x
    n_classes = class_start.shape[0] - 1
    for c in range(n_classes):
        lo = class_start[c]
        vals = cls_vals[lo:class_start[c + 1]]
        for q in range(vals.shape[0]):
            radius[lo + q] = kth_sorted(vals, q, k)
    count_all_within(xs, cls_vals, radius, counts)
    total = 0.0
    for i in range(n):
        total += psi[counts[i] - 1]
    return -total / n


@njit(**JIT_OPTIONS)
def _single_weight(coef):
    """The one neighbour index ``j`` that carries weight in ``coef``, or -1 if several do."""
    j_only = -1
    for j in range(coef.shape[1]):
        if coef[0, j] != 0.0 or coef[1, j] != 0.0:
            if j_only >= 0:
                return -1
            j_only = j
    return j_only


@njit(**JIT_OPTIONS)
def kl_discrete_slice(x, codes, class_start, k, coef, ws):
    """``sum_j coef[0,j] mean_i log r_ij - coef[1,j] mean_i log r_ij^(class)``.

    When a single neighbour carries weight (``"kl"``: the k-th; the seed's
    weights in 1-D: the first), only its distance is found and logged; the
    other terms are exact zeros, so the sum is unchanged.
    """
    n = x.shape[0]
    _class_sorted(x, codes, class_start, ws)
    xs, cls_vals, dist = ws.xs, ws.ysx, ws.dists
    n_classes = class_start.shape[0] - 1
    j_only = _single_weight(coef)
    if j_only >= 0:
        s_all = 0.0
        for p in range(n):
            s_all += np.log(kth_sorted(xs, p, j_only + 1))
        s_cls = 0.0
        for c in range(n_classes):
            vals = cls_vals[class_start[c]:class_start[c + 1]]
            for q in range(vals.shape[0]):
                s_cls += np.log(kth_sorted(vals, q, j_only + 1))
        return coef[0, j_only] * (0.0 + s_all / n) - coef[1, j_only] * (s_cls / n)
    lall = np.zeros(k)
    mean_log_knn_1d(xs, k, dist, lall)
    sums = np.zeros(k)
    for c in range(n_classes):
        vals = cls_vals[class_start[c]:class_start[c + 1]]
        for q in range(vals.shape[0]):
            knn_sorted(vals, q, k, dist)
            for j in range(k):
                sums[j] += np.log(dist[j])
    total = 0.0
    for j in range(k):
        total += coef[0, j] * lall[j] - coef[1, j] * (sums[j] / n)
    return total


# ----------------------------------------------------------------------------
# parallel drivers over one block of projections
# ----------------------------------------------------------------------------
@njit(**JIT_OPTIONS)
def _chunk_bounds(c, n_chunks, b):
    return (c * b) // n_chunks, ((c + 1) * b) // n_chunks


@njit(**JIT_OPTIONS)
def _prepare_pair(PX, PY, JX, JY, tols, s, x, y, out, status):
    """Standardise slice ``s`` of X and Y into ``x``, ``y``; flag a constant projection."""
    if not standardize_column(PX, s, JX, x, tols[0]):
        status[s] = STATUS_CONSTANT_X
        out[s] = np.nan
        return False
    if not standardize_column(PY, s, JY, y, tols[1]):
        status[s] = STATUS_CONSTANT_Y
        out[s] = np.nan
        return False
    return True


@functools.lru_cache(maxsize=None)
def pair_block(family, variant, search, lanes):
    """The parallel driver over the slices of one block for one specialisation.

    ``family`` (``"ksg"`` or ``"kl"``), ``variant``, ``search`` and ``lanes`` (see
    :func:`~fastsmi._numba._joint.kth_all`, :func:`~fastsmi._numba._joint.joint_log_means`)
    are compile-time constants of the returned kernel, so it compiles
    only the code its slices run: KSG-1 on the grid with k = 5 compiles neither
    the KSG-2 nor the sweep path, nor the lane scan of other depths.  Each
    specialisation is compiled (or loaded from the cache) the first time it is
    used, under its own name.  The kernel's arguments::

        block(PX, PY, JX, JY, tols, k, psi, coef, whiten, out, status, n_chunks)

    estimate every slice ``s < out.shape[0]``, ``(PX[:, s], PY[:, s])``, into
    ``out[s]`` (``status[s]`` flags a constant projection); columns past
    ``out.shape[0]`` (padding of the last block) are ignored.  ``psi`` is used by
    KSG, ``coef`` and ``whiten`` by KL.
    """
    is_ksg = family == FAMILY_KSG

    def block(PX, PY, JX, JY, tols, k, psi, coef, whiten, out, status, n_chunks):
        n = PX.shape[0]
        b = out.shape[0]
        n_chunks = min(b, n_chunks)
        for c in prange(n_chunks):
            ws = alloc_workspace(n, k, search)
            x = np.empty(n)
            y = np.empty(n)
            wbuf = np.empty((3, n))
            lo, hi = _chunk_bounds(c, n_chunks, b)
            for s in range(lo, hi):
                if _prepare_pair(PX, PY, JX, JY, tols, s, x, y, out, status):
                    if not is_ksg:
                        out[s] = kl_slice(x, y, k, coef, whiten, search, lanes, ws, wbuf)
                    elif variant == 1:
                        out[s] = ksg1_slice(x, y, k, search, lanes, psi, ws)
                    else:
                        out[s] = ksg2_slice(x, y, k, search, psi, ws)

    # one name, hence one on-disk cache index, per specialisation
    name = f"{family}_block_v{variant}_s{search}_l{lanes}".replace("-", "m")
    block.__name__ = block.__qualname__ = name
    return njit(**PARALLEL_JIT_OPTIONS)(block)


@njit(**PARALLEL_JIT_OPTIONS)
def discrete_block(PX, JX, tols, codes, class_start, k, ross, psi, coef, out, status, n_chunks):
    """Continuous slices against discrete labels: Ross KSG or KL entropies."""
    n = PX.shape[0]
    b = out.shape[0]
    n_chunks = min(b, n_chunks)
    for c in prange(n_chunks):
        ws = alloc_workspace(n, k, 0)
        x = np.empty(n)
        lo, hi = _chunk_bounds(c, n_chunks, b)
        for s in range(lo, hi):
            if not standardize_column(PX, s, JX, x, tols[0]):
                status[s] = STATUS_CONSTANT_X
                out[s] = np.nan
            elif ross:
                out[s] = ross_slice(x, codes, class_start, k, psi, ws)
            else:
                out[s] = kl_discrete_slice(x, codes, class_start, k, coef, ws)
