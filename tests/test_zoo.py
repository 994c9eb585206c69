"""Models from the model zoos, imported offline through the real loading code.

Each test writes a file of the right architecture (random weights) in its source's format where its loader
looks (RobustBench's cache folder, a MadryLab robustness checkpoint, torchvision / timm / robinterp state
dicts), imports it with the import job, loads the model file back with ``load_model`` and compares its
logits with the source network run by hand on the same images (resized and normalised as the source
expects). Wrong architectures, missing files and classes that do not map stop with the file or key named.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import torchvision

from robinterp.base.config import from_dict, validate_section
from robinterp.base.errors import CheckpointError, ConfigError
from robinterp.data.store import Split, write_prepared
from robinterp.models.checkpoint import load_model, save_model
from robinterp.models.architectures import build_model, model_spec
from robinterp.models.job import import_model
from robinterp.models.settings import PretrainedSettings
from robinterp.models.zoo import imagenet_wnids
from tinymodels import one_thread
from zooformats import madrylab_checkpoint, to_madrylab, to_state_dict

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# 15 ImageNet classes drawn as Small ImageNet draws its 150: indices among the sorted synsets, in order
SUBSET = [3, 41, 170, 282, 388, 404, 511, 530, 618, 701, 779, 812, 905, 954, 999]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


def settings(**values) -> PretrainedSettings:
    validate_section(values, "pretrained", "p")  # the config schema accepts what the tests import
    return from_dict(PretrainedSettings, values, "p")


def prepared(path, classes, side, channels=3, provenance=None, n=10):
    rng = np.random.default_rng(0)
    splits = {s: Split(rng.integers(0, 256, (n, side, side, channels), dtype=np.uint8),
                       rng.integers(0, len(classes), n)) for s in ("train", "test")}
    write_prepared(path, "fake", classes, splits, provenance=provenance)
    return path


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    return prepared(tmp_path_factory.mktemp("cifar"), CIFAR_CLASSES, 32)


@pytest.fixture(scope="module")
def small_imagenet(tmp_path_factory):
    """A Small-ImageNet-like dataset: 15 wnid classes of 48-pixel images, the build's indices in its provenance."""
    wnids = [imagenet_wnids()[i] for i in SUBSET]
    return prepared(tmp_path_factory.mktemp("sin"), wnids, 48, provenance={"ilsvrc_class_indices": SUBSET})


def images(n=4, side=48, channels=3, seed=1):
    return torch.rand(n, channels, side, side, generator=torch.Generator().manual_seed(seed))


def by_hand(net, x, mean, std, size=None):
    """The source network's logits, resized with torchvision's Resize and normalised with its Normalize."""
    from torchvision.transforms import v2

    steps = ([v2.Resize([size, size], antialias=True)] if size else []) + [v2.Normalize(mean, std)]
    with torch.no_grad():
        return net.eval()(v2.Compose(steps)(x))


def test_the_imagenet_wnids_are_the_sorted_1000_synsets():
    wnids = imagenet_wnids()
    assert len(wnids) == 1000 == len(set(wnids)) and list(wnids) == sorted(wnids)
    assert wnids[0] == "n01440764" and wnids[1] == "n01443537" and wnids[-1] == "n15075141"  # tench, goldfish, tissue
    timm_info = pytest.importorskip("timm.data")
    assert list(wnids) == list(timm_info.ImageNetInfo().label_names())


def test_torchvision_weights_give_the_source_logits_on_the_subset_resized(small_imagenet, tmp_path):
    """A 1,000-class torchvision ResNet on 15 wnid classes, 48-pixel images resized to 64 inside the model."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=1000)
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    s = settings(source="torchvision", arch="resnet18", weights=str(tmp_path / "resnet18.pth"), mean=IMAGENET_MEAN,
                 std=IMAGENET_STD, classes="imagenet", input_size=64)
    record = import_model(small_imagenet, s, where="p", out=tmp_path / "model.pt", record=tmp_path / "import.json")
    model = load_model(tmp_path / "model.pt", expected_spec={"arch": "resnet50", "num_classes": 15, "in_channels": 3})
    x = images()
    with torch.no_grad():
        logits = model.eval()(x)
    torch.testing.assert_close(logits, by_hand(net, x, IMAGENET_MEAN, IMAGENET_STD, 64)[:, SUBSET], rtol=1e-4,
                               atol=1e-5)
    # what was imported: the file and its checksum, the restriction, the resizing (file, record and spec agree)
    digest = hashlib.sha256((tmp_path / "resnet18.pth").read_bytes()).hexdigest()
    assert record["files"] == [{"path": str(tmp_path / "resnet18.pth"), "sha256": digest}]
    assert record["class_restriction"] == {"by": "wnid", "network_outputs": 1000, "kept": 15, "index": SUBSET}
    assert record["input_size"] == 64 and "48×48 → 64×64" in record["resize"]
    assert json.loads((tmp_path / "import.json").read_text()) == json.loads(json.dumps(record))
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    assert payload["imported"]["files"][0]["sha256"] == digest
    assert payload["spec"]["arch"] == "torchvision:resnet18" and payload["spec"]["class_index"] == SUBSET
    # the representation is the input of the final Linear; the feature maps average to it (CAMs)
    with torch.no_grad():
        r = model.representation(x)
        maps = model.trunk.feature_maps(model.normalize(model.resize(x)))
        torch.testing.assert_close(model.head(r), logits)
        torch.testing.assert_close(maps.mean(dim=(2, 3)), r, rtol=1e-5, atol=1e-6)
    assert r.shape == (4, 512) and maps.shape == (4, 512, 2, 2)


def test_a_restriction_picks_the_subsets_columns_in_the_datasets_order(small_imagenet, tmp_path):
    """A network whose output k is the constant k: the imported model's class j outputs the ImageNet index of
    the dataset's j-th wnid."""
    net = torchvision.models.resnet18(num_classes=1000)
    with torch.no_grad():
        net.fc.weight.zero_()
        net.fc.bias.copy_(torch.arange(1000, dtype=torch.float32))
    torch.save(net.state_dict(), tmp_path / "w.pth")
    import_model(small_imagenet, settings(source="torchvision", arch="resnet18", weights=str(tmp_path / "w.pth"),
                                          mean=IMAGENET_MEAN, std=IMAGENET_STD, classes="imagenet"),
                 where="p", out=tmp_path / "m.pt")
    with torch.no_grad():
        logits = load_model(tmp_path / "m.pt")(images(2))
    assert logits.tolist() == [[float(i) for i in SUBSET]] * 2


def test_a_class_mapping_that_does_not_cover_the_dataset_names_the_classes(cifar, small_imagenet, tmp_path):
    torch.save(torchvision.models.resnet18(num_classes=1000).state_dict(), tmp_path / "w.pth")
    keys = dict(source="torchvision", arch="resnet18", weights=str(tmp_path / "w.pth"), mean=IMAGENET_MEAN,
                std=IMAGENET_STD)
    s = settings(**keys, classes="imagenet")
    with pytest.raises(ConfigError, match=r"classes of .*meta\.json are not all ImageNet wnids.*'airplane'"):
        import_model(cifar, s, where="p", out=tmp_path / "m.pt")
    meta = json.loads((small_imagenet / "meta.json").read_text())
    other = prepared(tmp_path / "other", meta["classes"][:-1] + ["n99999999"], 48)
    with pytest.raises(ConfigError, match=r"'n99999999'.*1 of 15"):
        import_model(other, s, where="p", out=tmp_path / "m.pt")
    # a 1,000-class network on the dataset's own classes, without classes: imagenet
    with pytest.raises(CheckpointError, match=r"w\.pth does not fit torchvision's resnet18: .*size mismatch for "
                                              r"fc\.weight.*classes: imagenet for a 1,000-class ImageNet network"):
        import_model(small_imagenet, settings(**keys, classes="dataset"), where="p", out=tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_madrylab_checkpoints_are_read_with_their_prefixes_and_normaliser(small_imagenet, tmp_path):
    torch.manual_seed(1)
    net = torchvision.models.resnet18(num_classes=1000)
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    torch.save(madrylab_checkpoint(net.state_dict(), mean, std, epoch=89), tmp_path / "imagenet_l2_3_0.pt")
    s = settings(source="madrylab", path=str(tmp_path / "imagenet_l2_3_0.pt"), arch="resnet18", input_size=64)
    record = import_model(small_imagenet, s, where="p", out=tmp_path / "m.pt")  # classes: imagenet by default
    x = images()
    with torch.no_grad():
        logits = load_model(tmp_path / "m.pt").eval()(x)
    torch.testing.assert_close(logits, by_hand(net, x, mean, std, 64)[:, SUBSET], rtol=1e-4, atol=1e-5)
    assert record["epoch"] == 89
    assert record["normalisation"]["mean"] == pytest.approx(mean) and record["normalisation"]["std"] == pytest.approx(std)
    assert record["class_restriction"]["index"] == SUBSET


def test_a_madrylab_file_without_the_normaliser_or_the_classifier_names_the_key(small_imagenet, tmp_path):
    state = torchvision.models.resnet18(num_classes=1000).state_dict()
    checkpoint = madrylab_checkpoint(state, IMAGENET_MEAN, IMAGENET_STD, epoch=1)
    del checkpoint["model"]["module.normalizer.new_std"]
    torch.save(checkpoint, tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match=r"a\.pt: key 'module\.normalizer\.new_std'"):
        import_model(small_imagenet, settings(source="madrylab", path=str(tmp_path / "a.pt"), arch="resnet18"),
                     where="p", out=tmp_path / "m.pt")
    torch.save({"epoch": 3, "state": state}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match=r"b\.pt is not a MadryLab robustness checkpoint.*'model'"):
        import_model(small_imagenet, settings(source="madrylab", path=str(tmp_path / "b.pt"), arch="resnet18"),
                     where="p", out=tmp_path / "m.pt")


def test_a_wrong_architecture_or_a_missing_file_stops_naming_the_file(small_imagenet, tmp_path):
    torch.save(madrylab_checkpoint(torchvision.models.resnet18(num_classes=1000).state_dict(), IMAGENET_MEAN,
                                   IMAGENET_STD, epoch=1), tmp_path / "r18.pt")
    with pytest.raises(CheckpointError, match=r"r18\.pt does not fit torchvision's resnet34.*layer1\.2"):
        import_model(small_imagenet, settings(source="madrylab", path=str(tmp_path / "r18.pt"), arch="resnet34"),
                     where="p", out=tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"weights file .*missing\.pth does not exist \(config: p\.weights\)"):
        import_model(small_imagenet, settings(source="torchvision", arch="resnet18", weights=str(tmp_path / "missing.pth"),
                                              mean=IMAGENET_MEAN, std=IMAGENET_STD, classes="imagenet"),
                     where="p", out=tmp_path / "m.pt")
    with pytest.raises(ConfigError, match="torchvision has no architecture 'resnet19'"):
        import_model(small_imagenet, settings(source="torchvision", arch="resnet19", weights=str(tmp_path / "missing.pth"),
                                              mean=IMAGENET_MEAN, std=IMAGENET_STD, classes="imagenet"),
                     where="p", out=tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_timm_weights_give_the_source_logits(cifar, tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(2)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=10)
    torch.save(net.state_dict(), tmp_path / "resnet10t.pth")
    mean, std = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]
    import_model(cifar, settings(source="timm", arch="resnet10t", weights=str(tmp_path / "resnet10t.pth"), mean=mean,
                                 std=std), where="p", out=tmp_path / "m.pt")
    model = load_model(tmp_path / "m.pt", expected_spec={"arch": "resnet18_cifar", "num_classes": 10,
                                                         "in_channels": 3}).eval()
    x = images(side=32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), by_hand(net, x, mean, std), rtol=1e-4, atol=1e-5)
        r = model.representation(x)
        torch.testing.assert_close(r, net.forward_head(net.forward_features(by_hand(torch.nn.Identity(), x, mean,
                                                                                     std)), pre_logits=True))
        assert model.trunk.feature_maps(model.normalize(x)).mean(dim=(2, 3)).sub(r).abs().max() < 1e-5


def test_robustbench_reads_its_cache_folder(cifar, tmp_path):
    """Rice2020Overfitting written where RobustBench looks, in the layout robustbench's loader reads."""
    from robinterp.models.zoo import _robustbench

    try:
        zoo = _robustbench()
    except CheckpointError as exc:  # the zoo extra is not installed
        pytest.skip(str(exc))
    torch.manual_seed(3)
    net = zoo.entry("Rice2020Overfitting", "cifar10", "L2")["model"]()
    cache = tmp_path / "robustbench" / "cifar10" / "L2"
    cache.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}},
               cache / "Rice2020Overfitting.pt")
    keys = dict(source="robustbench", threat_model="L2", model_dir=str(tmp_path / "robustbench"))
    s = settings(name="Rice2020Overfitting", **keys)
    record = import_model(cifar, s, where="p", out=tmp_path / "m.pt")
    model = load_model(tmp_path / "m.pt", expected_spec={"arch": "resnet18_cifar", "num_classes": 10,
                                                         "in_channels": 3}).eval()
    x = images(side=32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net.eval()(x), rtol=1e-4, atol=1e-5)  # it normalises itself
    assert record["files"][0]["path"] == str(cache / "Rice2020Overfitting.pt")
    assert record["normalisation"] == {"mean": [0.0] * 3, "std": [1.0] * 3}
    # another model's weights in its place; an unknown name
    other = zoo.entry("Engstrom2019Robustness", "cifar10", "L2")["model"]()
    torch.save({"state_dict": other.state_dict()}, cache / "Rice2020Overfitting.pt")
    with pytest.raises(CheckpointError, match=r"Rice2020Overfitting\.pt does not fit RobustBench's architecture"):
        import_model(cifar, s, where="p", out=tmp_path / "m2.pt")
    with pytest.raises(ConfigError, match="RobustBench has no model 'Rice2020' for cifar10 L2"):
        import_model(cifar, settings(name="Rice2020", **keys), where="p", out=tmp_path / "m2.pt")


def test_our_models_exported_to_the_zoo_formats_come_back_identical(tmp_path):
    """The round trip of the README: a model file of ours → MadryLab checkpoint / plain state dict → import."""
    data = prepared(tmp_path / "digits", [str(d) for d in range(10)], 28, channels=1)
    spec = model_spec("resnet_small", 10, 1, [0.1307], [0.3081])
    torch.manual_seed(4)
    model = build_model(**spec)
    save_model(tmp_path / "ours.pt", model, spec)
    to_madrylab(tmp_path / "ours.pt", tmp_path / "madrylab.pt", epoch=5)
    to_state_dict(tmp_path / "ours.pt", tmp_path / "state_dict.pt")
    sources = {"madrylab": settings(source="madrylab", path=str(tmp_path / "madrylab.pt"), arch="resnet_small",
                                    classes="dataset"),
               "robinterp": settings(source="robinterp", arch="resnet_small", weights=str(tmp_path / "state_dict.pt"),
                                     mean=[0.1307], std=[0.3081])}
    x = images(6, side=28, channels=1)
    with torch.no_grad():
        expected = model.eval()(x)
    for name, s in sources.items():
        import_model(data, s, where="p", out=tmp_path / f"{name}.pt")
        imported = load_model(tmp_path / f"{name}.pt", expected_spec=spec).eval()
        with torch.no_grad():
            torch.testing.assert_close(imported(x), expected, rtol=0, atol=1e-6)
            torch.testing.assert_close(imported.representation(x), model.representation(x), rtol=0, atol=1e-6)
    with pytest.raises(CheckpointError, match=r"holds \{'num_classes': 10, 'in_channels': 1\} but the config asks "
                                              r"for \{'num_classes': 7, 'in_channels': 1\}"):
        load_model(tmp_path / "robinterp.pt", expected_spec={**spec, "num_classes": 7})


def test_a_three_channel_network_on_grey_images_is_refused(tmp_path):
    data = prepared(tmp_path / "digits", [str(d) for d in range(10)], 28, channels=1)
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match=r"resnet18 cannot run on the images of .*meta\.json \(1×28×28"):
        import_model(data, settings(source="torchvision", arch="resnet18", weights=str(tmp_path / "w.pth"),
                                    mean=[0.5], std=[0.5]), where="p", out=tmp_path / "m.pt")


def test_imported_models_run_the_analyses_batched_paths(small_imagenet, tmp_path):
    """Attacks, IG and the CAMs of Int on an imported model: gradients through the resize, bf16 autocast and
    channels_last give what float32 gives (up to bf16's precision)."""
    from robinterp.attacks.pgd import pgd_attack
    from robinterp.attacks.threats import L2Threat
    from robinterp.models.running import autocast
    from robinterp.training.cam import class_activation_maps, logits_and_feature_maps, require_feature_maps

    torch.manual_seed(5)
    torch.save(torchvision.models.resnet18(num_classes=1000).state_dict(), tmp_path / "w.pth")
    import_model(small_imagenet, settings(source="torchvision", arch="resnet18", weights=str(tmp_path / "w.pth"),
                                          mean=IMAGENET_MEAN, std=IMAGENET_STD, classes="imagenet", input_size=64),
                 where="p", out=tmp_path / "m.pt")
    model = load_model(tmp_path / "m.pt").eval()
    x = images(4)
    y = torch.tensor([0, 3, 7, 14])
    x_adv = pgd_attack(model, x, y, L2Threat(eps=0.5, step_size=0.25), steps=2)
    assert x_adv.shape == x.shape and float((x_adv - x).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-4
    with torch.no_grad():
        clean = model(x)
        assert not torch.equal(model(x_adv), clean)
    fast = load_model(tmp_path / "m.pt").eval().to(memory_format=torch.channels_last)
    xc = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    with autocast(x.device, True):
        logits = fast(xc)
    logits.float().gather(1, y[:, None]).sum().backward()
    assert logits.dtype == torch.bfloat16 and torch.isfinite(xc.grad).all() and xc.grad.abs().sum() > 0
    torch.testing.assert_close(logits.float(), clean, rtol=0.05, atol=0.05 * float(clean.abs().max()))
    # Int's CAMs: the maps of the very forward pass, and logit = mean CAM + bias (a GAP network)
    require_feature_maps(model, "int")
    out, maps = logits_and_feature_maps(model, model, x)
    cams = class_activation_maps(model, maps)
    torch.testing.assert_close(cams.mean(dim=(2, 3)) + model.head.bias, out.detach(), rtol=1e-4, atol=1e-4)


def test_the_schema_keeps_each_sources_keys_apart():
    validate_section({"source": "robustbench", "name": "Standard", "threat_model": "L2", "model_dir": "m"},
                     "pretrained", "p")
    with pytest.raises(ConfigError, match=r"p: Additional properties are not allowed \('weights' was unexpected\)"):
        validate_section({"source": "madrylab", "path": "a.pt", "arch": "resnet50", "weights": "b"}, "pretrained", "p")
    with pytest.raises(ConfigError, match="'mean' is a required property"):
        validate_section({"source": "timm", "arch": "resnet18", "weights": "w"}, "pretrained", "p")
    with pytest.raises(ConfigError, match=r"p\.input_size: 4 is less than the minimum of 8"):
        validate_section({"source": "madrylab", "path": "a.pt", "arch": "resnet50", "input_size": 4}, "pretrained",
                         "p")
