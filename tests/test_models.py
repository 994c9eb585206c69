"""Models: normalisation inside, R(x) exposed, checkpoints that refuse the wrong architecture."""

import pytest
import torch

from robinterp.base.errors import CheckpointError
from robinterp.models.architectures import build_model, model_spec
from robinterp.models.checkpoint import load_model, save_model


@pytest.mark.parametrize("arch,shape,dim", [("resnet_small", (2, 1, 28, 28), 64),
                                            ("resnet18_cifar", (2, 3, 32, 32), 512),
                                            ("resnet50", (2, 3, 64, 64), 2048),
                                            ("convnet_small", (2, 1, 28, 28), 128)])
def test_forward_is_head_of_representation(arch, shape, dim):
    model = build_model(arch, 7, shape[1], [0.5] * shape[1], [0.25] * shape[1]).eval()
    x = torch.rand(shape)
    rep = model.representation(x)
    assert rep.shape == (2, dim)
    torch.testing.assert_close(model(x), model.head(rep))


def test_normalisation_lives_inside_the_model():
    model = build_model("resnet_small", 10, 1, [0.25], [0.5]).eval()
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(model.normalize(x), (x - 0.25) / 0.5)


def test_checkpoint_round_trip_and_architecture_check(tmp_path):
    spec = model_spec("resnet_small", 10, 1, [0.1], [0.3])
    model = build_model(**spec).eval()
    save_model(tmp_path / "m.pt", model, spec)
    loaded = load_model(tmp_path / "m.pt", expected_spec=spec).eval()
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model(x))
    wrong = {**spec, "arch": "resnet18_cifar"}
    with pytest.raises(CheckpointError, match=r"m\.pt.*resnet_small.*resnet18_cifar"):
        load_model(tmp_path / "m.pt", expected_spec=wrong)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_identical_weights_give_identical_model_files_whatever_their_names(tmp_path):
    """The archive inside a torch file is named after the file; the model file must not depend on that."""
    spec = model_spec("resnet_small", 10, 1, [0.1], [0.3])
    torch.manual_seed(0)
    model = build_model(**spec)
    save_model(tmp_path / "a" / "model.pt", model, spec, extra={"best_epoch": 3})
    save_model(tmp_path / "b" / "other_name.pt", model, spec, extra={"best_epoch": 3})
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "other_name.pt").read_bytes()
    save_model(tmp_path / "c.pt", model, spec, extra={"best_epoch": 4})
    assert (tmp_path / "c.pt").read_bytes() != (tmp_path / "a" / "model.pt").read_bytes()


def test_unknown_architecture_and_wrong_channel_count_are_rejected():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("vgg", 10, 3, [0, 0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="one per channel"):
        build_model("resnet_small", 10, 3, [0.5], [0.5])
