"""The exact 2-D joint neighbour search of one slice, in its thread's workspace.

The workspace (:mod:`fastsmi._numba.workspace`) holds the sorted coordinates and
the grid; sorting is in :mod:`fastsmi._numba.sort`.

Two exact joint searches are implemented (``bench/bench_search.py`` compares
them): a sweep over the x-sorted order, and a ring search over a grid whose
cells are quantiles of x and y (the default: it touches O(k) points per
query whatever the marginal distributions).  When only the k-th distance is
needed (k <= 8), the grid is first scanned eight queries at a time, one per
SIMD lane (:func:`grid_kth_lanes`); the ring search then settles the few
points whose neighbours may lie outside the scanned cells.
"""
from __future__ import annotations

import numpy as np
from numba import literally, njit, types
from numba.extending import overload

from .._algorithm import (GRID_POINTS_PER_CELL, GRID_POINTS_PER_CELL_K1, KTH_REGISTERS, LANE_ROWS_SHORT, LANES,
                          LANES_ALL, SEARCH_GRID)
from .._config import JIT_OPTIONS
from ._neighbors import METRIC_MAX, pair_moments
from .sort import sort_values
from .workspace import grid_size_max

@njit(**JIT_OPTIONS)
def grid_size(a, b, k):
    """Grid side for the points ``(a, b)``: about GRID_POINTS_PER_CELL points per occupied cell
    (GRID_POINTS_PER_CELL_K1 when only the nearest neighbour, k = 1, is sought).

    Dependent samples fill only a band around the diagonal of the quantile
    grid, of relative width about ``sqrt(1 - r^2)`` (r the sample
    correlation); the grid is refined accordingly so that the cells near the
    diagonal do not fill up.  Only speed depends on this choice.
    """
    n = a.shape[0]
    _, _, saa, sbb, sab = pair_moments(a, b)
    r2 = sab * sab / (saa * sbb) if saa > 0.0 and sbb > 0.0 else 0.0
    width = max(np.sqrt(max(1.0 - r2, 0.0)), 1.0 / np.sqrt(n))
    per_cell = GRID_POINTS_PER_CELL_K1 if k == 1 else GRID_POINTS_PER_CELL
    g = int(np.sqrt(n / (per_cell * width)))
    return min(max(g, 1), grid_size_max(n))


@njit(**JIT_OPTIONS)
def _build_grid(ws, g):
    """Bucket the points into a g x g grid over the quantiles of x and y."""
    xs, ysx, ys, order, y_rank, cell_start, members, coords, keys, bounds = (ws.xs, ws.ysx, ws.ys, ws.order, ws.y_rank, ws.cell_start,
                                                                             ws.members, ws.coords, ws.keys, ws.bounds)
    n = xs.shape[0]
    cell_of = keys[2]
    n_cells = g * g
    for c in range(n_cells + 1):
        cell_start[c] = 0
    # column c holds the x-ranks p with (p * g) // n == c, likewise rows by y-rank
    for c in range(g):
        lo = (c * n + g - 1) // g
        hi = ((c + 1) * n + g - 1) // g
        bounds[0, c] = xs[lo]          # smallest x of column c
        bounds[1, c] = xs[hi - 1]      # largest x of column c
        bounds[2, c] = ys[lo]
        bounds[3, c] = ys[hi - 1]
    for p in range(n):
        cell = ((p * g) // n) * g + (y_rank[p] * g) // n
        cell_of[p] = cell
        cell_start[cell + 1] += 1
    for c in range(n_cells):
        cell_start[c + 1] += cell_start[c]
    fill = cell_start[:n_cells].copy()
    for p in range(n):
        c = cell_of[p]
        t = fill[c]
        members[t] = order[p]
        ws.member_rank[t] = p
        coords[0, t] = xs[p]
        coords[1, t] = ysx[p]
        fill[c] = t + 1


@njit(**JIT_OPTIONS)
def sort_joint(a, b, ws, search, k):
    """Sort the points ``(a[i], b[i])`` by each coordinate and build the search index for k neighbours."""
    xs, ysx, ys, order, y_order = ws.xs, ws.ysx, ws.ys, ws.order, ws.y_rank
    n = a.shape[0]
    sort_values(a, ws, order, xs)
    for p in range(n):
        ysx[p] = b[order[p]]
    sort_values(b, ws, y_order, ys)
    scratch = ws.scratch
    for r in range(n):
        scratch[y_order[r]] = r
    for p in range(n):
        y_order[p] = scratch[order[p]]  # now: y-rank of x-rank p
    if search == SEARCH_GRID:
        g = grid_size(a, b, k)
        ws.grid_side[0] = g
        _build_grid(ws, g)


@njit(**JIT_OPTIONS)
def grid_knn_all(xs, ysx, order, y_rank, cell_start, members, coords, bounds, g, metric, nd, ni, registers, kth,
                 targets, n_targets):
    """Exact k nearest neighbours of every point by ring search over the quantile grid.

    Row ``p`` of ``nd``/``ni`` receives the neighbours of x-rank ``p``, sorted
    by ``(distance, original index)``.  The 3 x 3 block of cells around the
    query's cell is scanned first with straight loops (its rows are contiguous
    in the cell order); further rings are scanned only while the k-th
    distance is not below the gap to the nearest unscanned column or row, a
    lower bound on every remaining distance (max-norm or Euclidean), and cells
    farther than the current k-th distance are skipped.  The top-k insertion
    is written out inline: a call per candidate costs more than the work.

    With ``registers`` (k <= 8) only the k-th distance is kept, in ``kth[p]``:
    the k smallest distances live in eight scalars and an insertion is a fixed
    min/max network, about twice as fast.  KSG-1, and KL weighted on the k-th
    neighbour alone, need no neighbour identities, so ties need no order.

    Only the x-ranks ``targets[:n_targets]`` are searched.  Register mode runs after
    :func:`grid_kth_lanes` and resumes from it: row ``s`` of ``nd`` holds the k smallest
    distances (ascending) over the cells the lane scan already scanned for target
    ``s``: columns ``cx - 1 .. cx + 1`` and rows ``y_lo .. y_hi`` (packed as
    ``y_lo << 32 | y_hi`` in ``ni[s, 0]``), a rectangle that holds the query's 3 x 3
    block.  The search starts from those registers and scans only the cells outside
    the rectangle, so no point is counted twice and the result is the k smallest
    over the union, as from a cold start.
    """
    n = xs.shape[0]
    k = nd.shape[1]
    dist = np.empty(k)
    idx = np.empty(k, np.int64)
    euclid = metric != METRIC_MAX
    runs = np.empty((8 * g + 8, 2), np.int64)
    for s in range(n_targets):
        p = targets[s]
        for t in range(k):
            dist[t] = np.inf
            idx[t] = n
        # register mode (k <= 8, distances only): r0 <= ... <= r7 hold the k smallest,
        # the 8 - k lowest pinned at -inf, so r7 is the k-th distance.  They start from
        # the lane scan's k smallest over the cells it scanned, which are skipped.
        top = np.inf
        r0 = -np.inf if k < 8 else (nd[s, k - 8] if registers else top)
        r1 = -np.inf if k < 7 else (nd[s, k - 7] if registers else top)
        r2 = -np.inf if k < 6 else (nd[s, k - 6] if registers else top)
        r3 = -np.inf if k < 5 else (nd[s, k - 5] if registers else top)
        r4 = -np.inf if k < 4 else (nd[s, k - 4] if registers else top)
        r5 = -np.inf if k < 3 else (nd[s, k - 3] if registers else top)
        r6 = -np.inf if k < 2 else (nd[s, k - 2] if registers else top)
        r7 = nd[s, k - 1] if registers else top
        kd = r7
        # the rectangle the lane scan already scanned (register mode); empty otherwise
        skip_lo = -1
        skip_hi = -2
        if registers:
            packed = ni[s, 0]
            skip_lo = packed >> 32
            skip_hi = packed & 0xFFFFFFFF
        x0 = xs[p]
        y0 = ysx[p]
        me = order[p]
        cx = (p * g) // n
        cy = (y_rank[p] * g) // n
        # candidate cells as runs of CSR offsets: first the 3 x 3 block around the
        # query's cell (its rows are contiguous), then one ring of cells at a time
        n_runs = 0
        if not registers:
            for gx in range(max(cx - 1, 0), min(cx + 1, g - 1) + 1):
                runs[n_runs, 0] = cell_start[gx * g + max(cy - 1, 0)]
                runs[n_runs, 1] = cell_start[gx * g + min(cy + 1, g - 1) + 1]
                n_runs += 1
        ring = 1
        while True:
            for r in range(n_runs):
                for t in range(runs[r, 0], runs[r, 1]):
                    j = members[t]
                    dx = abs(coords[0, t] - x0)
                    dy = abs(coords[1, t] - y0)
                    if euclid:
                        d = np.sqrt(dx * dx + dy * dy)
                    else:
                        d = dx if dx >= dy else dy
                    if d <= kd and j != me:
                        if registers:
                            if d < kd:
                                c = min(d, r6)
                                r7 = max(d, r6)
                                r6 = max(c, r5)
                                c = min(c, r5)
                                r5 = max(c, r4)
                                c = min(c, r4)
                                r4 = max(c, r3)
                                c = min(c, r3)
                                r3 = max(c, r2)
                                c = min(c, r2)
                                r2 = max(c, r1)
                                c = min(c, r1)
                                r1 = max(c, r0)
                                r0 = min(c, r0)
                                kd = r7
                        elif d < kd or j < idx[k - 1]:
                            u = k - 1
                            while u > 0 and (dist[u - 1] > d or (dist[u - 1] == d and idx[u - 1] > j)):
                                dist[u] = dist[u - 1]
                                idx[u] = idx[u - 1]
                                u -= 1
                            dist[u] = d
                            idx[u] = j
                            kd = dist[k - 1]
            lo_x = cx - ring
            hi_x = cx + ring
            lo_y = cy - ring
            hi_y = cy + ring
            bound = np.inf
            if lo_x > 0:
                bound = min(bound, x0 - bounds[1, lo_x - 1])
            if hi_x + 1 < g:
                bound = min(bound, bounds[0, hi_x + 1] - x0)
            if lo_y > 0:
                bound = min(bound, y0 - bounds[3, lo_y - 1])
            if hi_y + 1 < g:
                bound = min(bound, bounds[2, hi_y + 1] - y0)
            if kd < bound or bound == np.inf:
                break
            ring += 1
            lo_x -= 1
            hi_x += 1
            lo_y -= 1
            hi_y += 1
            n_runs = 0
            for gx in range(max(lo_x, 0), min(hi_x, g - 1) + 1):
                if gx < cx:
                    gap_x = x0 - bounds[1, gx]
                elif gx > cx:
                    gap_x = bounds[0, gx] - x0
                else:
                    gap_x = 0.0
                full = gx == lo_x or gx == hi_x
                gy = max(lo_y, 0)
                gy_end = min(hi_y, g - 1)
                while gy <= gy_end:
                    if not full and gy != lo_y and gy != hi_y:
                        gy = hi_y
                        continue
                    if gy < cy:
                        gap_y = y0 - bounds[3, gy]
                    elif gy > cy:
                        gap_y = bounds[2, gy] - y0
                    else:
                        gap_y = 0.0
                    if euclid:
                        gap = np.sqrt(gap_x * gap_x + gap_y * gap_y)
                    else:
                        gap = gap_x if gap_x >= gap_y else gap_y
                    scanned = cx - 1 <= gx <= cx + 1 and skip_lo <= gy <= skip_hi
                    if gap <= kd and not scanned:
                        cell = gx * g + gy
                        runs[n_runs, 0] = cell_start[cell]
                        runs[n_runs, 1] = cell_start[cell + 1]
                        n_runs += 1
                    gy += 1
        if registers:
            kth[p] = r7
        else:
            for t in range(k):
                nd[p, t] = dist[t]
                ni[p, t] = idx[t]


@njit(**JIT_OPTIONS)
def sweep_knn_all(xs, ysx, order, metric, nd, ni):
    """Exact k nearest neighbours of every point by a sweep over the x-sorted order.

    From each point the sweep walks outwards in x, always taking the side
    with the smaller x-gap, and stops once the gap exceeds the current k-th
    distance (every joint distance is at least the x-gap).
    """
    n = xs.shape[0]
    k = nd.shape[1]
    dist = np.empty(k)
    idx = np.empty(k, np.int64)
    euclid = metric != METRIC_MAX
    for p in range(n):
        for t in range(k):
            dist[t] = np.inf
            idx[t] = n
        x0 = xs[p]
        y0 = ysx[p]
        left = p - 1
        right = p + 1
        while True:
            gl = x0 - xs[left] if left >= 0 else np.inf
            gr = xs[right] - x0 if right < n else np.inf
            if gl <= gr:
                dx = gl
                q = left
                left -= 1
            else:
                dx = gr
                q = right
                right += 1
            if dx == np.inf or dx > dist[k - 1]:
                break
            dy = abs(ysx[q] - y0)
            if euclid:
                d = np.sqrt(dx * dx + dy * dy)
            else:
                d = dx if dx >= dy else dy
            j = order[q]
            if d < dist[k - 1] or (d == dist[k - 1] and j < idx[k - 1]):
                u = k - 1
                while u > 0 and (dist[u - 1] > d or (dist[u - 1] == d and idx[u - 1] > j)):
                    dist[u] = dist[u - 1]
                    idx[u] = idx[u - 1]
                    u -= 1
                dist[u] = d
                idx[u] = j
        for t in range(k):
            nd[p, t] = dist[t]
            ni[p, t] = idx[t]


def _make_lane_scan(rows):
    """Build the lane scan with a min/max network of ``rows`` registers (it serves k <= rows).

    ``rows`` is a compile-time constant of the returned kernel, so the network is
    unrolled and the lane loop vectorises.  Measured (n = 2000, one thread, same run):
    with 5 rows the scan takes 0.124 ms for k = 5 against 0.171 ms with 8 rows.  Fewer
    than 5 rows vectorised worse.  For k = 1 (the seed's 1-NN KL) the 5-row scan was
    faster alone but slower inside the KL slice (0.83 against 0.56 ms a slice), so
    2 <= k <= 5 uses 5 rows, and k = 1 and 6 <= k <= 8 use 8.
    """
    top = rows - 1
    qx, qy, qpos = rows, rows + 1, rows + 2

    def grid_kth_lanes(cell_start, coords, member_rank, bounds, g, k, metric, kth, pending, pend_regs, pend_rows):
        """k-th joint neighbour distance by a vectorised block scan; returns how many points it left.

        The members of one grid column are taken in their storage order (by cell)
        eight at a time.  Each group scans the candidates of its cells' 3 x 3 blocks
        (three contiguous runs of storage), with one query per SIMD lane: the
        distance to a candidate and the insertion into that lane's k smallest
        distances (a min/max network over ``rows`` registers, the low ``rows - k``
        pinned at -inf) are branch-free, so the loop vectorises.  A query's own
        storage position gets distance +inf.

        The result of a lane is the k-th smallest distance over the scanned cells
        (a superset of its own cell's 3 x 3 block).  It is exact when it is below
        the gap to the nearest column or row outside them (every other point is at
        least that far); such points get ``kth[p]``.  The others (usually a few
        percent) get an upper bound in ``kth[p]``, and their x-ranks are written to
        ``pending`` for the ring search of :func:`grid_knn_all`, which resumes from
        their k smallest distances (``pend_regs[s, :k]``) and the rows the scan
        covered (``pend_rows[s, 0] = y_lo << 32 | y_hi``).  Euclidean distances are
        compared squared and rooted at the end, which gives the same distances as the
        ring search's ``sqrt(dx * dx + dy * dy)`` (the square root is monotone).
        """
        euclid = metric != METRIC_MAX
        # rows 0 .. top: the k smallest (ascending); then the query's x, y and storage position
        state = np.empty((rows + 3, LANES))
        n_pending = 0
        for gx in range(g):
            col_end = cell_start[gx * g + g]
            x_lo = max(gx - 1, 0)
            x_hi = min(gx + 1, g - 1)
            row = 0
            for a in range(cell_start[gx * g], col_end, LANES):
                b = min(a + LANES, col_end)
                while cell_start[gx * g + row + 1] <= a:
                    row += 1
                last = row
                while cell_start[gx * g + last + 1] < b:
                    last += 1
                y_lo = max(row - 1, 0)
                y_hi = min(last + 1, g - 1)
                for lane in range(LANES):
                    q = min(a + lane, b - 1)
                    for r in range(rows):
                        state[r, lane] = -np.inf if r < rows - k else np.inf
                    state[qx, lane] = coords[0, q]
                    state[qy, lane] = coords[1, q]
                    state[qpos, lane] = q
                for gxx in range(x_lo, x_hi + 1):
                    for t in range(cell_start[gxx * g + y_lo], cell_start[gxx * g + y_hi + 1]):
                        cx = coords[0, t]
                        cy = coords[1, t]
                        position = float(t)
                        for lane in range(LANES):
                            dx = abs(cx - state[qx, lane])
                            dy = abs(cy - state[qy, lane])
                            d = dx if dx >= dy else dy
                            d2 = dx * dx + dy * dy
                            d = d2 if euclid else d
                            d = np.inf if state[qpos, lane] == position else d
                            # insert d: r_top = min(r_top, max(d, r_top-1)), then carry min(d, r_top-1) down
                            r = state[top - 1, lane]
                            c = d if d < r else r
                            m = d if d > r else r
                            state[top, lane] = m if m < state[top, lane] else state[top, lane]
                            for u in range(top - 1, 0, -1):
                                r = state[u - 1, lane]
                                state[u, lane] = c if c > r else r
                                c = c if c < r else r
                            state[0, lane] = c
                for lane in range(b - a):
                    t = a + lane
                    p = member_rank[t]
                    kd = state[top, lane]
                    if euclid:
                        kd = np.sqrt(kd)
                    x0 = coords[0, t]
                    y0 = coords[1, t]
                    # gap to the nearest column or row outside the scanned ones (as in the ring
                    # search of grid_knn_all; a shared helper measured 20% slower on this path)
                    bound = np.inf
                    if x_lo > 0:
                        bound = min(bound, x0 - bounds[1, x_lo - 1])
                    if x_hi + 1 < g:
                        bound = min(bound, bounds[0, x_hi + 1] - x0)
                    if y_lo > 0:
                        bound = min(bound, y0 - bounds[3, y_lo - 1])
                    if y_hi + 1 < g:
                        bound = min(bound, bounds[2, y_hi + 1] - y0)
                    kth[p] = kd  # exact, or an upper bound for the ring search
                    if not (kd < bound or bound == np.inf):
                        for j in range(k):
                            v = state[top - k + 1 + j, lane]
                            pend_regs[n_pending, j] = np.sqrt(v) if euclid else v
                        pend_rows[n_pending, 0] = (y_lo << 32) | y_hi
                        pending[n_pending] = p
                        n_pending += 1
        return n_pending

    # each depth gets its own name, hence its own on-disk cache index: two closures of one
    # qualname would share an index, which concurrent cold processes could cross-write
    grid_kth_lanes.__name__ = grid_kth_lanes.__qualname__ = f"grid_kth_lanes_{rows}"
    return njit(**JIT_OPTIONS)(grid_kth_lanes)


grid_kth_lanes = _make_lane_scan(KTH_REGISTERS)
grid_kth_lanes_short = _make_lane_scan(LANE_ROWS_SHORT)


#: Options of the implementations chosen by the overloads below (compiled into their callers).
_OVERLOAD_OPTIONS = {key: value for key, value in JIT_OPTIONS.items() if key != "cache"}


def kth_all(ws, k, metric, search, kth, lanes):
    """k-th joint neighbour distance of every x-rank into ``kth`` (after :func:`sort_joint`).

    ``lanes`` is :func:`lane_rows` of ``(k, search)`` and must be a compile-time
    constant: 5 or 8, the depth of the lane scan (:func:`grid_kth_lanes_short`,
    :func:`grid_kth_lanes`) whose pending points the ring search then settles, or
    0 for the k-NN search (:func:`knn_all`).  Only the chosen search is compiled.
    Callable from jitted code only (an ``overload``).
    """
    raise NotImplementedError("kth_all is compiled into jitted callers only")


@overload(kth_all, jit_options=_OVERLOAD_OPTIONS, prefer_literal=True)
def _kth_all(ws, k, metric, search, kth, lanes):
    if not isinstance(lanes, types.IntegerLiteral):
        return lambda ws, k, metric, search, kth, lanes: literally(lanes)
    rows = lanes.literal_value
    if rows == 0:
        def knn_then_kth(ws, k, metric, search, kth, lanes):
            knn_all(ws, metric, search)
            nd = ws.nd
            for p in range(kth.shape[0]):
                kth[p] = nd[p, k - 1]
        return knn_then_kth
    scan = {LANE_ROWS_SHORT: grid_kth_lanes_short, KTH_REGISTERS: grid_kth_lanes}[rows]

    def lanes_then_ring(ws, k, metric, search, kth, lanes):
        # the ring search reads k from ws.nd's width; the lane scan writes k registers there
        assert ws.nd.shape[1] == k and k <= lanes and search == SEARCH_GRID
        g = ws.grid_side[0]
        pending = ws.pending
        # the scan leaves each pending point's registers in ws.nd and its rows in ws.ni
        n_pending = scan(ws.cell_start, ws.coords, ws.member_rank, ws.bounds, g, k, metric, kth, pending, ws.nd, ws.ni)
        grid_knn_all(ws.xs, ws.ysx, ws.order, ws.y_rank, ws.cell_start, ws.members, ws.coords, ws.bounds, g, metric, ws.nd, ws.ni,
                     np.bool_(True), kth, pending, n_pending)
    return lanes_then_ring


def joint_log_means(ws, k, metric, search, lanes, out):
    """``out[j] = mean_i log r_{i, j+1}``, joint distances (after :func:`sort_joint`).

    With ``lanes == LANES_ALL`` every ``j < k`` (:func:`knn_all`); otherwise only
    ``out[k - 1]``, from :func:`kth_all` with that ``lanes``, and the other
    entries are left alone.  ``lanes`` must be a compile-time constant (an
    ``overload``, callable from jitted code only).
    """
    raise NotImplementedError("joint_log_means is compiled into jitted callers only")


@overload(joint_log_means, jit_options=_OVERLOAD_OPTIONS, prefer_literal=True)
def _joint_log_means(ws, k, metric, search, lanes, out):
    if not isinstance(lanes, types.IntegerLiteral):
        return lambda ws, k, metric, search, lanes, out: literally(lanes)
    if lanes.literal_value != LANES_ALL:
        def kth_only(ws, k, metric, search, lanes, out):
            kth = ws.kth
            kth_all(ws, k, metric, search, kth, lanes)
            total = 0.0
            for p in range(kth.shape[0]):
                total += np.log(kth[p])
            out[k - 1] = total / kth.shape[0]
        return kth_only

    def every(ws, k, metric, search, lanes, out):
        knn_all(ws, metric, search)
        dist = ws.nd
        n = dist.shape[0]
        sums = np.zeros(k)
        for p in range(n):
            for j in range(k):
                sums[j] += np.log(dist[p, j])
        for j in range(k):
            out[j] = sums[j] / n
    return every


@njit(**JIT_OPTIONS)
def knn_all(ws, metric, search):
    """k nearest joint neighbours of every point (after :func:`sort_joint`) into ``ws.nd``, ``ws.ni``."""
    if search == SEARCH_GRID:
        targets = ws.pending
        n = targets.shape[0]
        for p in range(n):
            targets[p] = p
        grid_knn_all(ws.xs, ws.ysx, ws.order, ws.y_rank, ws.cell_start, ws.members, ws.coords, ws.bounds, ws.grid_side[0], metric, ws.nd, ws.ni,
                     np.bool_(False), ws.kth, targets, n)
    else:
        sweep_knn_all(ws.xs, ws.ysx, ws.order, metric, ws.nd, ws.ni)
