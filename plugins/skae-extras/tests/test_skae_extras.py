"""skae-extras' own tests: its architectures train, its noise schemes keep the contract."""

import ast
import inspect

import pytest
import skae_extras
import torch
from sklearn.datasets import load_digits

from skae import (
    VAE,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    InvalidParameterError,
    registry,
)

X = load_digits().data[:200] / 16.0
FAST = {
    "max_iter": 5,
    "learning_rate": 3e-3,
    "batch_size": 50,
    "random_state": 0,
    "device": "cpu",
}
BUILDERS = {"resmlp": skae_extras.build_resmlp, "conv1d": skae_extras.build_conv1d}
SMALL = {
    "resmlp": {"width": 32, "n_blocks": 1},
    "conv1d": {"channels": (4,), "kernel_size": 3},
}
NOISES = {"speckle": skae_extras.speckle, "swap": skae_extras.swap}


def test_registered_from_this_distribution():
    for table, names in (
        (registry.architectures(), BUILDERS),
        (registry.noise_schemes(), NOISES),
    ):
        for name, function in names.items():
            entry = table[name]
            assert entry.provider.distribution == "skae-extras"
            assert entry.provider.version == skae_extras.__version__
            assert (
                getattr(entry.spec, "build", None) or entry.spec.corrupt
            ) is function


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("n_encoder_outputs", [3, 6], ids=["ae", "vae"])
def test_build_shapes(name, n_encoder_outputs):
    encoder, decoder = BUILDERS[name](
        n_features=50, n_encoder_outputs=n_encoder_outputs, n_components=3
    )
    assert encoder(torch.zeros(4, 50)).shape == (4, n_encoder_outputs)
    assert decoder(torch.zeros(4, 3)).shape == (4, 50)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("resmlp", {"width": 0}, "width"),
        ("resmlp", {"n_blocks": 1.5}, "n_blocks"),
        ("resmlp", {"activation": "nope"}, "Unknown activation 'nope'"),
        ("conv1d", {"kernel_size": 4}, "must be odd"),
        ("conv1d", {"channels": ()}, "channels"),
        ("conv1d", {"channels": (8, -1)}, "channels"),
    ],
)
def test_build_rejects_bad_params(name, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        BUILDERS[name](n_features=8, n_encoder_outputs=2, n_components=2, **params)


def test_bad_params_reach_the_user_as_invalid_parameter_error():
    est = AutoencoderTransformer(encoder="conv1d", encoder_params={"kernel_size": 2})
    with pytest.raises(
        InvalidParameterError,
        match="Architecture 'conv1d' raised InvalidParameterError while building.*odd",
    ):
        est.fit(X[:20])


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAE])
def test_short_fit_reduces_the_loss(name, cls):
    est = cls(n_components=4, encoder=name, encoder_params=SMALL[name], **FAST).fit(X)
    assert est.transform(X).shape == (200, 4)
    assert est.inverse_transform(est.transform(X[:5])).shape == (5, 64)
    assert est.loss_curve_[-1] < 0.9 * est.loss_curve_[0]
    blocks = [type(m) for m in est.module_.modules()]
    assert (skae_extras.ResidualBlock in blocks) == (name == "resmlp")
    assert (torch.nn.Conv1d in blocks) == (name == "conv1d")


@pytest.mark.parametrize("noise, level", [("speckle", 0.5), ("swap", 0.3)])
def test_denoising_fit_with_extra_noise(noise, level):
    est = DenoisingAutoencoder(
        n_components=4, noise=noise, noise_level=level, **FAST
    ).fit(X)
    assert est.n_iter_ == FAST["max_iter"]
    assert est.loss_curve_[-1] < est.loss_curve_[0]


@pytest.mark.parametrize("name", NOISES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_noise_contract(name, dtype):
    corrupt = NOISES[name]
    batch = torch.rand(64, 10, generator=torch.Generator().manual_seed(1), dtype=dtype)
    before = batch.clone()

    def run(seed, level=0.5):
        return corrupt(batch, level, torch.Generator().manual_seed(seed))

    out = run(0)
    assert out.shape == batch.shape and out.dtype == dtype
    assert out.device == batch.device and out is not batch
    assert torch.equal(batch, before), "the input was modified in place"
    assert not torch.equal(out, batch)
    assert torch.equal(out, run(0)), "same seed, different noise"
    assert not torch.equal(out, run(1))
    assert torch.equal(run(0, level=0.0), batch), "level 0 must be the identity"


def test_speckle_is_multiplicative_with_std_level():
    batch = torch.full((200, 50), 2.0)
    batch[:, 0] = 0.0
    out = skae_extras.speckle(batch, 0.3, torch.Generator().manual_seed(0))
    assert torch.all(out[:, 0] == 0), "zeros must stay zero"
    factor = out[:, 1:] / 2.0
    assert factor.mean().item() == pytest.approx(1.0, abs=0.01)
    assert factor.std().item() == pytest.approx(0.3, abs=0.01)


def test_swap_keeps_each_column_values_and_rate():
    batch = torch.arange(400.0).reshape(
        100, 4
    )  # every value unique, column = value % 4
    out = skae_extras.swap(batch, 0.25, torch.Generator().manual_seed(0))
    assert torch.equal(out.long() % 4, batch.long() % 4), "a value left its column"
    assert (out != batch).float().mean().item() == pytest.approx(0.25, abs=0.05)
    everything = skae_extras.swap(batch, 1.0, torch.Generator().manual_seed(0))
    # at level 1 every entry is drawn from its column, so rows are shuffled per column
    assert (everything != batch).float().mean().item() > 0.9


def test_swap_level_range_is_enforced():
    est = DenoisingAutoencoder(noise="swap", noise_level=1.5)
    with pytest.raises(ValueError, match=r"noise_level.*\[0.0, 1.0\].*swap"):
        est.fit(X[:20])


def test_uses_only_skae_public_api():
    # A plugin that imports skae's private modules breaks when skae refactors them.
    for module in (skae_extras, skae_extras.architectures, skae_extras.noise):
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level:
                root = (node.module or "").split(".")[0]
                assert root != "skae" or node.module == "skae", (
                    f"{module.__name__} imports the private module {node.module}"
                )
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("skae.") for a in node.names)
