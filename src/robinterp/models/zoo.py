"""Networks from the field's model zoos and their files: RobustBench, MadryLab ``robustness``, torchvision, timm.

Each source's own way of building an architecture, and of reading its weights:

- ``robustbench``: ``robustbench.utils.load_model(name, model_dir, dataset, threat_model)``, RobustBench's own
  loader and model zoo; it reads ``<model_dir>/<dataset>/<threat_model>/<name>.pt`` and downloads that file
  first where it is missing. Its models take images in [0, 1] and normalise them themselves.
- ``madrylab``: a checkpoint of MadryLab's ``robustness`` library (Engstrom et al. 2019): a dict with
  ``'model'`` (older files: ``'state_dict'``), a state dict whose keys start with ``module.model.`` (the
  classifier), ``module.attacker.model.`` (its copy inside the attacker) and ``module.normalizer.`` (the
  buffers ``new_mean``, ``new_std`` of its input normalisation), and ``'epoch'``. The classifier's keys after
  ``module.model.`` are those of the torchvision architecture of the same name (their ImageNet ResNets);
  read on the CPU with ``torch.load`` (their own loader needs CUDA).
- ``torchvision`` / ``timm``: any architecture the library builds (``torchvision.models.get_model``,
  ``timm.create_model``) and a file holding its state dict; the normalisation comes from the config.
- ``robinterp``: one of this package's architectures (``resnet_small``, ``resnet18_cifar``, ``resnet50``) as a
  plain network, its :class:`~robinterp.models.architectures.Classifier` without the normalisation
  (:class:`PlainNetwork`), and a file holding its state dict: a model trained with this code elsewhere, or one of
  ours exported to the other formats. A MadryLab checkpoint's ``arch`` may name one of these too, where
  torchvision has no architecture of that name.

Also here: the 1,000 ILSVRC-2012 class ids (:func:`imagenet_wnids`) and the columns of a network's output
that a dataset's classes map to (:func:`source_class_index`). robustbench and timm (the ``zoo`` extra) are
imported only by the functions that need them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
import torch.nn as nn

from robinterp.base.errors import CheckpointError, ConfigError
from robinterp.models.architectures import ARCHITECTURES, build_model

log = logging.getLogger(__name__)

#: The 1,000 ILSVRC-2012 synset ids in sorted order: ImageNet class k is the k-th (torchvision, timm, MadryLab).
IMAGENET_WNIDS_FILE = Path(__file__).with_name("imagenet_wnids.txt")

#: How the network's outputs relate to the dataset's classes (a pretrained method's ``classes``).
CLASS_KINDS = ("imagenet", "dataset")

_ZOO_EXTRA = "pip install 'robinterp[zoo]'"


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1,000 ILSVRC-2012 wnids, sorted: the position of a wnid is its ImageNet class index."""
    wnids = tuple(IMAGENET_WNIDS_FILE.read_text().split())
    if len(wnids) != 1000 or list(wnids) != sorted(wnids):
        raise RuntimeError(f"{IMAGENET_WNIDS_FILE} must hold the 1,000 ILSVRC wnids in sorted order")
    return wnids


def source_class_index(kind: str, classes: Sequence[str], source_classes: int, *, where: str,
                       provenance: Mapping | None = None) -> list[int] | None:
    """The network output behind each of the dataset's classes, in the dataset's order (None: all, in order).

    Args:
        kind: ``imagenet``: the network's outputs are the 1,000 ImageNet classes and the dataset's classes are
            wnids (a Small ImageNet); class k is output ``imagenet_wnids().index(classes[k])``.
            ``dataset``: the network's outputs are the dataset's classes, in the same order.
        classes: the prepared dataset's class names (``meta.json``'s ``classes``).
        source_classes: the network's number of outputs.
        where: what the classes come from (the dataset's meta.json), named in errors.
        provenance: the dataset's provenance; where it records ``ilsvrc_class_indices`` (a built Small
            ImageNet), they must agree with the mapping.

    Raises:
        ConfigError: a class is not an ImageNet wnid, or the network does not have as many outputs as the
            dataset has classes.
    """
    if kind == "dataset":
        if source_classes != len(classes):
            raise ConfigError(f"the network has {source_classes} outputs but {where} has {len(classes)} classes; "
                              "set classes: imagenet for an ImageNet network on a subset of ImageNet's classes")
        return None
    if kind != "imagenet":
        raise ConfigError(f"unknown classes {kind!r}; choose one of {list(CLASS_KINDS)}")
    if source_classes != 1000:
        raise ConfigError(f"classes: imagenet needs a network with the 1,000 ImageNet outputs, this one has "
                          f"{source_classes}")
    position = {w: i for i, w in enumerate(imagenet_wnids())}
    unknown = [c for c in classes if c not in position]
    if unknown:
        raise ConfigError(f"the classes of {where} are not all ImageNet wnids, so the 1,000-class network cannot be "
                          f"restricted to them: {unknown[:5]}{' …' if len(unknown) > 5 else ''} "
                          f"({len(unknown)} of {len(classes)}) are not among the 1,000 ILSVRC-2012 synsets")
    index = [position[c] for c in classes]
    recorded = (provenance or {}).get("ilsvrc_class_indices")
    if recorded is not None and list(recorded) != index:
        raise ConfigError(f"{where} records ILSVRC class indices {list(recorded)[:5]} … for its classes, the sorted "
                          f"1,000 synsets give {index[:5]} …: its ILSVRC train folder did not hold the 1,000 "
                          "standard synsets")
    return None if index == list(range(1000)) else index


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- building architectures (random weights) ------------------------------------------------------------------


class PlainNetwork(nn.Module):
    """One of this package's architectures without its normalisation: ``head(trunk(x))`` of normalised images.

    Its state dict is a :class:`~robinterp.models.architectures.Classifier`'s without the ``normalize.`` buffers.
    """

    def __init__(self, arch: str, num_classes: int, in_channels: int):
        super().__init__()
        model = build_model(arch, num_classes, in_channels, [0.0] * in_channels, [1.0] * in_channels)
        self.trunk, self.head = model.trunk, model.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def madrylab_architecture_source(arch: str) -> str:
    """Who builds a MadryLab checkpoint's ``arch``: ``torchvision`` where it has that name, else ``robinterp``."""
    import torchvision

    if arch in torchvision.models.list_models():
        return "torchvision"
    if arch in ARCHITECTURES:
        return "robinterp"
    raise ConfigError(f"neither torchvision nor robinterp has an architecture {arch!r} (robinterp's: "
                      f"{sorted(ARCHITECTURES)})")


def build_network(source: str, arch: str, options: Mapping, num_classes: int) -> nn.Module:
    """An untrained network of architecture ``arch`` from ``source``, in eval mode.

    Args:
        source: ``robustbench``, ``madrylab`` (:func:`madrylab_architecture_source`), ``torchvision``, ``timm``,
            ``robinterp`` (:class:`PlainNetwork`).
        arch: the architecture (RobustBench: the model's name).
        options: RobustBench: ``dataset`` and ``threat_model``; this package's architectures: ``in_channels``.
        num_classes: the network's outputs.
    """
    if source == "madrylab":
        source = madrylab_architecture_source(arch)
    if source == "robinterp":
        if arch not in ARCHITECTURES:
            raise ConfigError(f"robinterp has no architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
        return PlainNetwork(arch, num_classes, int(options.get("in_channels", 3))).eval()
    if source == "torchvision":
        import torchvision

        try:
            return torchvision.models.get_model(arch, weights=None, num_classes=num_classes).eval()
        except ValueError as exc:
            raise ConfigError(f"torchvision has no architecture {arch!r} ({exc})") from exc
    if source == "timm":
        timm = _import_zoo("timm", "timm")
        if not timm.is_model(arch):
            raise ConfigError(f"timm has no architecture {arch!r} (timm.list_models() lists them)")
        return timm.create_model(arch, pretrained=False, num_classes=num_classes).eval()
    if source == "robustbench":
        zoo = _robustbench()
        entry = zoo.entry(arch, options["dataset"], options["threat_model"])
        if entry is None:  # a RobustBench model that timm registers
            return zoo.timm.create_model(zoo.timm_name(arch, options), pretrained=False,
                                         num_classes=num_classes).eval()
        if isinstance(entry["gdrive_id"], list):
            raise ConfigError(f"RobustBench model {arch!r} is an ensemble of several files; only single models "
                              "can be imported")
        return entry["model"]().eval()
    raise ConfigError(f"unknown source {source!r}")


def _import_zoo(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CheckpointError(f"{what} is not installed ({exc}); install the zoo extra: {_ZOO_EXTRA}") from exc


@dataclass(frozen=True)
class _RobustBench:
    """robustbench's loader and model zoo, imported."""

    utils: Any
    models: Mapping
    datasets: Any
    threats: Any
    timm: Any

    def timm_name(self, name: str, options: Mapping) -> str:
        """The name under which timm registers a RobustBench model (robustbench.utils.load_model's rule)."""
        return f"{name.lower().replace('-', '_')}_{options['dataset']}_{options['threat_model'].lower()}"

    def entry(self, name: str, dataset: str, threat_model: str) -> Mapping | None:
        """The model zoo's entry of ``name`` (None where timm registers it); ConfigError naming what is wrong."""
        try:
            models = self.models[self.datasets(dataset)][self.threats(threat_model)]
        except (ValueError, KeyError):
            raise ConfigError(f"RobustBench has no models for dataset {dataset!r} and threat model "
                              f"{threat_model!r}") from None
        if self.timm.is_model(self.timm_name(name, {"dataset": dataset, "threat_model": threat_model})):
            return None
        if name not in models:
            raise ConfigError(f"RobustBench has no model {name!r} for {dataset} {threat_model}; its models there: "
                              f"{', '.join(models)}")
        return models[name]


def _robustbench() -> _RobustBench:
    """robustbench's utils and model zoo.

    robustbench 1.1.1 imports ``autoattack`` (the module name of fra31/auto-attack installed from git), while its
    PyPI dependency ``pyautoattack`` installs the same code as ``pyautoattack``: where only the latter exists, it
    is made importable under the former name. robustbench also imports ``pkg_resources``, which setuptools 82
    removed (the zoo extra pins setuptools < 82).
    """
    if "autoattack" not in sys.modules:
        try:
            import autoattack  # noqa: F401
        except ImportError:
            try:
                import pyautoattack
                import pyautoattack.state
            except ImportError:
                pass
            else:
                sys.modules["autoattack"] = pyautoattack
                sys.modules["autoattack.state"] = pyautoattack.state
    try:
        import robustbench.utils
        import timm
        from robustbench.model_zoo import model_dicts
        from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
    except ImportError as exc:
        raise CheckpointError(f"robustbench is not installed or does not import ({exc}); install the zoo extra: "
                              f"{_ZOO_EXTRA}") from exc
    return _RobustBench(robustbench.utils, model_dicts, BenchmarkDataset, ThreatModel, timm)


# --- loading networks with their weights -----------------------------------------------------------------------


@dataclass
class LoadedNetwork:
    """A network with its source's weights, and what the model file records about it.

    Args:
        net: the network, eval mode, on the CPU.
        source, arch, options: what :func:`build_network` rebuilds it from.
        num_classes: its outputs.
        mean, std: the normalisation its inputs need (0 and 1 where it normalises itself).
        files: the files its weights were read from.
        details: what else the source records (MadryLab: the checkpoint's epoch).
    """

    net: nn.Module
    source: str
    arch: str
    options: dict
    num_classes: int
    mean: list[float]
    std: list[float]
    files: list[Path]
    details: dict = field(default_factory=dict)


def load_network(settings, num_classes: int, in_channels: int, where: str) -> LoadedNetwork:
    """The network a method's ``pretrained`` section names, with its weights.

    Args:
        settings: the section (:class:`robinterp.models.settings.PretrainedSettings`).
        num_classes: the network's outputs (1,000 for ImageNet networks; RobustBench: its dataset's).
        in_channels: the images' channels (what this package's architectures are built for).
        where: the section's config path, named in errors.

    Raises:
        CheckpointError: a file is missing or does not fit the architecture (naming the file, and the key or
            layer that does not fit); ConfigError: an unknown architecture or model name.
    """
    loaders = {"robustbench": _load_robustbench, "madrylab": _load_madrylab, "torchvision": _load_state_dict_file,
               "timm": _load_state_dict_file, "robinterp": _load_state_dict_file}
    loaded = loaders[settings.source](settings, num_classes, {"in_channels": in_channels}, where)
    loaded.net.eval()
    return loaded


def _load_robustbench(s, num_classes: int, _: Mapping, where: str) -> LoadedNetwork:
    zoo = _robustbench()
    options = {"dataset": s.dataset, "threat_model": s.threat_model}
    entry = zoo.entry(s.name, s.dataset, s.threat_model)
    if entry is not None and isinstance(entry["gdrive_id"], list):
        raise ConfigError(f"{where}.name: RobustBench model {s.name!r} is an ensemble; only single models can be "
                          "imported")
    path = Path(s.model_dir) / s.dataset / s.threat_model / f"{s.name}.pt"
    if entry is not None and not path.is_file():
        log.info("%s is not in RobustBench's cache %s: robustbench downloads it", s.name, path)

    def load() -> nn.Module:
        return zoo.utils.load_model(s.name, model_dir=s.model_dir, dataset=s.dataset, threat_model=s.threat_model)

    try:
        try:
            net = load()
        except pickle.UnpicklingError as exc:
            # robustbench calls torch.load without weights_only, so torch >= 2.6 reads only tensors and plain
            # containers; some older RobustBench files pickle other objects. The file is the one the config names.
            log.warning("torch's weights-only loading refused %s (%s); reading it again with full unpickling "
                        "(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD), as the RobustBench file the config names is trusted",
                        path, _short(exc))
            with _environment("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1"):
                net = load()
    except RuntimeError as exc:  # load_state_dict: the file does not fit RobustBench's architecture
        raise CheckpointError(f"{path} does not fit RobustBench's architecture of {s.name}: {_short(exc)}") from exc
    except (ConfigError, CheckpointError):
        raise
    except Exception as exc:  # downloads fail in many ways (gdown, requests, an HTML page saved as the file)
        raise CheckpointError(f"RobustBench could not load {s.name} from {path} ({type(exc).__name__}: "
                              f"{_short(exc)}); without internet, put the file there (README: Bring your own "
                              "model)") from exc
    files = [path] if entry is not None else []
    return LoadedNetwork(net, "robustbench", s.name, options, num_classes, [0.0] * 3, [1.0] * 3, files,
                         {} if files else {"weights": "timm's Hugging Face hub copy"})


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """The environment variable ``name`` set to ``value`` inside the block, restored after it."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def network_classes(settings, dataset_classes: int) -> int:
    """How many outputs the network of a ``pretrained`` section has.

    RobustBench: its dataset's (10, 100 or 1,000); otherwise 1,000 where ``classes`` is ``imagenet``, else the
    dataset's number of classes.
    """
    if settings.source == "robustbench":
        return {"cifar10": 10, "cifar100": 100, "imagenet": 1000}[settings.dataset]
    return 1000 if settings.class_kind == "imagenet" else dataset_classes


def _load_madrylab(s, num_classes: int, channels: Mapping, where: str) -> LoadedNetwork:
    path = Path(s.path)
    payload = _read_torch(path, f"{where}.path")
    state = payload.get("model", payload.get("state_dict")) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping):
        found = list(payload)[:8] if isinstance(payload, Mapping) else type(payload).__name__
        raise CheckpointError(f"{path} is not a MadryLab robustness checkpoint: it has no 'model' (or 'state_dict') "
                              f"state dict (found {found})")
    prefix = next((p for p in ("module.model.", "model.") if any(k.startswith(p) for k in state)), None)
    if prefix is None:
        raise CheckpointError(f"{path}: no key of its 'model' state dict starts with 'module.model.' (the classifier "
                              f"of a robustness AttackerModel); its keys start {sorted(state)[:3]}")
    normaliser = prefix.replace("model.", "normalizer.")
    stats = {}
    for name in ("new_mean", "new_std"):
        key = normaliser + name
        if key not in state:
            raise CheckpointError(f"{path}: key {key!r} (the input normalisation of a robustness AttackerModel) "
                                  "is missing")
        stats[name] = [float(v) for v in torch.as_tensor(state[key]).flatten()]
    builder = madrylab_architecture_source(s.arch)
    options = dict(channels) if builder == "robinterp" else {}
    net = build_network("madrylab", s.arch, options, num_classes)
    _load_strict(net, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, path,
                 f"{builder}'s {s.arch}")
    epoch = payload.get("epoch")
    details = {"epoch": int(epoch)} if isinstance(epoch, (int, float, torch.Tensor)) else {}
    return LoadedNetwork(net, "madrylab", s.arch, options, num_classes, stats["new_mean"], stats["new_std"], [path],
                         details)


def _load_state_dict_file(s, num_classes: int, channels: Mapping, where: str) -> LoadedNetwork:
    path = Path(s.weights)
    options = dict(channels) if s.source == "robinterp" else {}
    net = build_network(s.source, s.arch, options, num_classes)
    payload = _read_torch(path, f"{where}.weights")
    state = payload.get("state_dict", payload) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict (a mapping of parameter names to tensors), nor "
                              "one under 'state_dict'")
    _load_strict(net, state, path, f"{s.source}'s {s.arch}")
    return LoadedNetwork(net, s.source, s.arch, options, num_classes, list(s.mean), list(s.std), [path])


def _read_torch(path: Path, key: str) -> Any:
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist (config: {key}); download it there (README: "
                              "Bring your own model)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        log.warning("torch's weights-only loading refused %s (%s); reading it with full unpickling, as the file "
                    "the config names is trusted", path, _short(exc))
    except Exception as exc:
        raise CheckpointError(f"cannot read weights file {path} ({type(exc).__name__}: {_short(exc)})") from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"cannot read weights file {path} ({type(exc).__name__}: {_short(exc)})") from exc


def _load_strict(net: nn.Module, state: Mapping, path: Path, what: str) -> None:
    try:
        net.load_state_dict(dict(state))
    except RuntimeError as exc:
        hint = ("; where only the last layer's size differs, the file has another number of classes than the "
                "network built for it (classes: imagenet for a 1,000-class ImageNet network on a subset of its "
                "classes)") if "size mismatch" in str(exc) else ""
        raise CheckpointError(f"{path} does not fit {what}: {_short(exc)}{hint}") from exc


def _short(exc: BaseException, limit: int = 600) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + " …"
