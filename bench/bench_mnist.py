"""MNIST information plane: cost of one measurement point and of one training epoch.

``test_infoplane_point`` is one measurement at the seed's settings: the seed's
classifier (6 tapped layers: layers 1-5 and exp(layer 5)), the 10,000 MNIST
test images, m = 1000 directions, SMI(X;L) and SMI(L;Y) for every layer, and
AE+MI (PCA-reduced layer against the autoencoder's codes; an untrained
autoencoder here, which costs the same). The timing includes the forward pass
and drawing the directions, not the JIT compilation (a warm-up call on a tiny
input runs first). ``extra_info`` holds the seconds of every layer and
quantity and their sums per quantity (``per_quantity_seconds``).

``test_train_epoch`` is one training epoch of the classifier on the 60,000
training images (Adam, batch 1024) on 2 torch threads; multiply by 300 (plus
the measurements) for the seed's full run; like the driver, it uses the
channels-last memory format. ``test_autoencoder_epoch`` is one
epoch of the AE+MI autoencoder (batch 2048), which the seed trains for 200.

Reduced versions (for a busy machine) via environment variables:
``FASTSMI_BENCH_MNIST_M`` (directions), ``FASTSMI_BENCH_MNIST_N`` (test images),
``FASTSMI_BENCH_MNIST_LAYERS`` (how many of the 6 layers).

Run::

    pytest bench/bench_mnist.py --benchmark-only

The data come from :func:`fastsmi.mnist.data.load_mnist`; the benchmarks are
skipped when MNIST is not installed.
"""
import os

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")
torch = pytest.importorskip("torch")

from fastsmi.mnist import data as D  # noqa: E402
from fastsmi.mnist.autoencoder import ConvAutoencoder, encode, train_autoencoder  # noqa: E402
from fastsmi.mnist.infoplane import draw_directions, measure_infoplane  # noqa: E402
from fastsmi.mnist.model import SeedClassifier, seed_layers, train_epoch  # noqa: E402

M = int(os.environ.get("FASTSMI_BENCH_MNIST_M", "1000"))
N = int(os.environ.get("FASTSMI_BENCH_MNIST_N", "10000"))
N_LAYERS = int(os.environ.get("FASTSMI_BENCH_MNIST_LAYERS", "6"))
THREADS = 2


@pytest.fixture(scope="module")
def mnist():
    try:
        return D.load_mnist()
    except D.MNISTNotFoundError as err:
        pytest.skip(str(err))


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(old)


def test_infoplane_point(benchmark, mnist):
    x = torch.from_numpy(D.normalize_images(mnist.x_test[:N])).contiguous(memory_format=torch.channels_last)
    y = mnist.y_test[:N]
    torch.manual_seed(0)
    net = SeedClassifier().to(memory_format=torch.channels_last)
    layers, transforms = seed_layers()
    layers = dict(list(layers.items())[:N_LAYERS])
    transforms = {k: v for k, v in transforms.items() if k in layers}
    directions_x = draw_directions(M, 784, seed=0)
    torch.manual_seed(1)
    codes = encode(ConvAutoencoder().to(memory_format=torch.channels_last), x)
    kw = dict(layers=layers, transforms=transforms, n_projections=M, n_jobs=THREADS)
    # compile the kernels outside the timing
    measure_infoplane(net, x[:200], y[:200], **dict(kw, n_projections=4), seed=1, x_codes=codes[:200])

    result = benchmark.pedantic(
        lambda: measure_infoplane(net, x, y, **kw, seed=2, directions_x=directions_x, x_codes=codes),
        rounds=1, iterations=1,
    )
    per_quantity: dict[str, float] = {}
    for r in result.records:
        per_quantity[r["quantity"]] = round(per_quantity.get(r["quantity"], 0.0) + r["seconds"], 2)
    benchmark.extra_info.update(
        n=N, m=M, layers=len(layers), per_quantity_seconds=per_quantity,
        per_record_seconds={f"{r['layer']}/{r['quantity']}": round(r["seconds"], 2) for r in result.records},
    )
    assert len(result.records) == 4 * len(layers)
    assert all(np.isfinite(r["estimate"]) for r in result.records)


CL = torch.channels_last


def test_train_epoch(benchmark, mnist):
    x = torch.from_numpy(D.normalize_images(mnist.x_train)).contiguous(memory_format=CL)
    y = torch.from_numpy(mnist.y_train)
    torch.manual_seed(0)
    net = SeedClassifier().to(memory_format=CL)
    opt = torch.optim.Adam(net.parameters(), lr=1e-5)
    gen = torch.Generator().manual_seed(0)
    train_epoch(net, opt, x[:2048], y[:2048], batch_size=1024, generator=gen)  # warm-up
    loss, _ = benchmark.pedantic(
        lambda: train_epoch(net, opt, x, y, batch_size=1024, generator=gen), rounds=1, iterations=1
    )
    assert np.isfinite(loss)


def test_autoencoder_epoch(benchmark, mnist):
    x = torch.from_numpy(D.normalize_images(mnist.x_train)).contiguous(memory_format=CL)
    torch.manual_seed(0)
    ae = ConvAutoencoder().to(memory_format=CL)
    gen = torch.Generator().manual_seed(0)
    losses = benchmark.pedantic(
        lambda: train_autoencoder(ae, x, epochs=1, batch_size=2048, generator=gen), rounds=1, iterations=1
    )
    assert np.isfinite(losses[0])
