"""The autoencoder logs every epoch and resumes from its per-epoch checkpoint exactly."""
from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")

from fastsmi.mnist import autoencoder as A  # noqa: E402


class Killed(RuntimeError):
    pass


def _fresh(seed: int = 0):
    torch.manual_seed(seed)
    ae = A.ConvAutoencoder(image_size=8)
    x = torch.randn(48, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return ae, x


def _train(ae, x, **kw):
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(3)  # dropout and latent noise draw from the global generator
    return A.train_autoencoder(ae, x, epochs=4, batch_size=16, generator=gen, **kw)


def test_kill_and_resume_equals_uninterrupted(tmp_path, monkeypatch):
    ae_ref, x = _fresh()
    ref = _train(ae_ref, x)

    ckpt = tmp_path / "ae.partial.pt"
    ae, _ = _fresh()
    saves = []
    real_save = A._save_training_checkpoint

    def save_then_die(path, *args):
        real_save(path, *args)
        saves.append(path)
        if len(saves) == 2:  # killed right after the second epoch was saved
            raise Killed

    monkeypatch.setattr(A, "_save_training_checkpoint", save_then_die)
    with pytest.raises(Killed):
        _train(ae, x, checkpoint=ckpt, signature={"run": 1})
    monkeypatch.setattr(A, "_save_training_checkpoint", real_save)
    assert ckpt.is_file() and not ckpt.with_name(ckpt.name + ".tmp").exists()

    # a new process would build a fresh model and generators; the checkpoint restores them
    ae2, _ = _fresh(seed=99)
    gen = torch.Generator().manual_seed(12345)
    torch.manual_seed(999)
    losses = A.train_autoencoder(ae2, x, epochs=4, batch_size=16, generator=gen, checkpoint=ckpt,
                                 signature={"run": 1})
    assert losses == ref
    for (name, a), (_, b) in zip(ae_ref.state_dict().items(), ae2.state_dict().items()):
        assert torch.equal(a, b), name


def test_checkpoint_of_other_settings_is_ignored(tmp_path, caplog):
    ckpt = tmp_path / "ae.partial.pt"
    ae, x = _fresh()
    _train(ae, x, checkpoint=ckpt, signature={"run": 1})
    ae_ref, _ = _fresh()
    ref = _train(ae_ref, x)
    ae2, _ = _fresh()
    with caplog.at_level(logging.WARNING, logger="fastsmi.mnist.autoencoder"):
        losses = _train(ae2, x, checkpoint=ckpt, signature={"run": 2})
    assert losses == ref
    assert "other settings" in caplog.text


def test_torn_checkpoint_is_ignored(tmp_path, caplog):
    ckpt = tmp_path / "ae.partial.pt"
    ckpt.write_bytes(b"not a checkpoint")
    ae_ref, x = _fresh()
    ref = _train(ae_ref, x)
    ae, _ = _fresh()
    with caplog.at_level(logging.WARNING, logger="fastsmi.mnist.autoencoder"):
        assert _train(ae, x, checkpoint=ckpt, signature=None) == ref
    assert "unreadable checkpoint" in caplog.text


def test_every_epoch_is_logged(caplog):
    ae, x = _fresh()
    with caplog.at_level(logging.INFO, logger="fastsmi.mnist.autoencoder"):
        losses = _train(ae, x)
    lines = [r.getMessage() for r in caplog.records if "autoencoder epoch" in r.getMessage()]
    assert len(lines) == 4
    assert lines[0].startswith("autoencoder epoch 1/4: L1 loss ")
    assert f"{losses[-1]:.4f}" in lines[-1]


def test_experiment_killed_during_autoencoder_resumes(tmp_path, monkeypatch):
    from fastsmi.mnist import run as R

    monkeypatch.setenv("FASTSMI_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    settings = dict(
        dataset="digits", n_train=300, n_test=160, epochs=1, lr=3e-3, batch_size=100, measure_epochs=(1,),
        n_projections=12, channels=(2, 3, 4), hidden=5, aemi=True, ae_epochs=3, ae_batch_size=150,
        progress=False, n_jobs=1, figures=False, ae_cache=False,
    )
    full = R.run_experiment(R.ExperimentConfig(out=str(tmp_path / "a"), **settings))

    real_save = A._save_training_checkpoint
    saves = []

    def save_then_die(path, *args):
        real_save(path, *args)
        saves.append(path)
        if len(saves) == 2:
            raise Killed

    monkeypatch.setattr(A, "_save_training_checkpoint", save_then_die)
    with pytest.raises(Killed):
        R.run_experiment(R.ExperimentConfig(out=str(tmp_path / "b"), **settings))
    assert (tmp_path / "b" / "autoencoder.partial.pt").is_file()
    monkeypatch.setattr(A, "_save_training_checkpoint", real_save)
    resumed = R.run_experiment(R.ExperimentConfig(out=str(tmp_path / "b"), **settings))
    assert not (tmp_path / "b" / "autoencoder.partial.pt").exists()  # finished: the partial state is gone
    ae_a = torch.load(tmp_path / "a" / "autoencoder.pt", weights_only=True)
    ae_b = torch.load(tmp_path / "b" / "autoencoder.pt", weights_only=True)
    assert ae_a["losses"] == ae_b["losses"] and len(ae_b["losses"]) == 3
    for name, tensor in ae_a["state"].items():
        assert torch.equal(tensor, ae_b["state"][name]), name

    def strip(records):  # NaN stderr (one AE+MI estimate) compares equal as text
        return [{k: repr(v) for k, v in r.items() if k != "seconds"} for r in records]

    assert strip(full.records) == strip(resumed.records)
