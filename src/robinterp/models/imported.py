"""Networks from other code bases as classifiers of ours: R(x) is the input of the network's final Linear.

An imported network (a RobustBench model, a MadryLab ``robustness`` ResNet, any torchvision or timm
architecture, or one of this package's architectures as a plain state dict; :mod:`robinterp.models.zoo` loads
them) becomes an :class:`ImportedClassifier`, a
:class:`~robinterp.models.architectures.Classifier` taking images in [0, 1]::

    x → resize to the network's input size (optional) → normalise → trunk → R(x) → head → logits

- **R(x)** is the input of the network's final ``nn.Linear`` (the penultimate layer, Boychev 2023, §3.4),
  found generically, never per architecture: for a timm model ``forward_features`` then
  ``forward_head(pre_logits=True)`` (:class:`TimmTrunk`); for any other network the node of its FX graph
  that feeds the Linear whose output is the network's output, returned by torchvision's
  ``create_feature_extractor`` (:class:`GraphTrunk`).
- Where R(x) is the global average of 4-d feature maps (a GAP network, checked numerically when the model
  is imported), the trunk also has ``feature_maps(x)`` and computes R(x) from them, as
  :class:`~robinterp.models.architectures.CifarResNet` does, so class activation maps (Int's CAMs) work.
- **The head** is the network's final Linear, its rows restricted to ``class_index`` where the network
  has more classes than the dataset (a 1,000-class ImageNet model on Small ImageNet 150): logit k of the
  model is logit ``class_index[k]`` of the network.
- **Resizing** (``input_size``) is bilinear with antialiasing, as torchvision's ``Resize`` of a tensor, and
  inside the model, so attacks and attributions still act on the dataset's pixels.

The model file stores the spec (:func:`imported_spec`) and the wrapper's state dict; :func:`build_imported`
rebuilds the same module from the spec (the architecture with random weights, then the same wrapping), so
:func:`robinterp.models.checkpoint.load_model` loads it like a trained model.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.base.errors import CheckpointError
from robinterp.models.architectures import Classifier
from robinterp.models.zoo import build_network

#: Sources of imported networks (the ``source`` of a method's ``pretrained`` section).
SOURCES = ("robustbench", "madrylab", "torchvision", "timm", "robinterp")

# Nodes between the feature maps and R(x) that pooling and reshaping leave on the path (walked backwards
# from R(x) to find the maps; whether R(x) is their global average is then checked numerically).
_PASS_MODULES = (nn.Flatten, nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.Identity, nn.Dropout)
_PASS_FUNCTIONS = (torch.flatten, torch.mean, torch.squeeze, torch.reshape, F.adaptive_avg_pool2d, F.avg_pool2d,
                   F.dropout)
_PASS_METHODS = ("flatten", "view", "reshape", "squeeze", "mean", "contiguous")


class ImportedClassifier(Classifier):
    """A network from another code base as a :class:`Classifier`: resize → normalise → trunk → R(x) → head.

    Args:
        trunk: maps normalised images to R(x) (:class:`GraphTrunk` or :class:`TimmTrunk`).
        head: the network's final Linear, rows restricted to the dataset's classes.
        mean, std: the network's input normalisation (0 and 1 where the network normalises itself).
        input_size: side the images are resized to before normalisation; None keeps their size.
    """

    def __init__(self, trunk: nn.Module, head: nn.Linear, mean: Sequence[float], std: Sequence[float],
                 input_size: int | None = None):
        super().__init__(trunk, head, mean, std)
        self.input_size = input_size

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` resized to ``input_size`` × ``input_size`` (bilinear, antialiased), or unchanged."""
        size = self.input_size
        if size is None or tuple(x.shape[-2:]) == (size, size):
            return x
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """R(x): the input of the network's final Linear, for images in [0, 1] of the dataset's size."""
        return self.trunk(self.normalize(self.resize(x)))


class GraphTrunk(nn.Module):
    """R(x) from torchvision's FX feature extraction: the node that feeds the network's final Linear."""

    def __init__(self, extractor: nn.Module):
        super().__init__()
        self.extractor = extractor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.extractor(x)["features"], 1)


class GraphMapsTrunk(nn.Module):
    """R(x) as the global average of the network's last feature maps (FX extraction of the maps)."""

    def __init__(self, extractor: nn.Module):
        super().__init__()
        self.extractor = extractor

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The feature maps (B, C, h, w) whose global average is R(x) (used for CAMs)."""
        return self.extractor(x)["maps"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(self.feature_maps(x), 1), 1)


class TimmTrunk(nn.Module):
    """R(x) of a timm model: ``forward_head(forward_features(x), pre_logits=True)`` (its classifier removed)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)


class TimmMapsTrunk(TimmTrunk):
    """:class:`TimmTrunk` of a GAP network: ``forward_features`` are the maps whose average is R(x)."""

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The feature maps (B, C, h, w) whose global average is R(x) (used for CAMs)."""
        return self.net.forward_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.feature_maps(x), pre_logits=True)


def imported_spec(source: str, source_arch: str, *, source_options: Mapping | None, source_classes: int,
                  class_index: Sequence[int] | None, input_size: int | None, trunk: Mapping, num_classes: int,
                  in_channels: int, mean: Sequence[float], std: Sequence[float]) -> dict:
    """The spec of an imported model, stored in its file: what :func:`build_imported` rebuilds it from.

    Args:
        source: one of :data:`SOURCES`.
        source_arch: the architecture's name in its source (a RobustBench model name, a torchvision or timm
            architecture).
        source_options: what else the source needs to build it (RobustBench: ``dataset``, ``threat_model``).
        source_classes: the network's number of outputs.
        class_index: the network's output kept as each of the dataset's classes, in the dataset's order;
            None: all of them, in their order.
        input_size: the side images are resized to; None: the dataset's images as they are.
        trunk: how R(x) is taken (:func:`wrap_network`'s choice): ``{"kind": "graph", "features": node,
            "maps": node or None}`` or ``{"kind": "timm", "maps": bool}``.
        num_classes, in_channels: the dataset's classes and image channels (checked by ``load_model``).
        mean, std: the input normalisation applied before the network.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {list(SOURCES)}")
    return {"arch": f"{source}:{source_arch}", "source": source, "source_arch": source_arch,
            "source_options": dict(source_options or {}), "source_classes": int(source_classes),
            "class_index": None if class_index is None else [int(i) for i in class_index],
            "input_size": None if input_size is None else int(input_size), "trunk": dict(trunk),
            "num_classes": int(num_classes), "in_channels": int(in_channels),
            "mean": [float(m) for m in mean], "std": [float(s) for s in std]}


def is_imported_spec(spec: Mapping) -> bool:
    """Whether a model file's spec is an imported network's (else it is :func:`model_spec`'s)."""
    return "source" in spec


# --- finding R(x) ---------------------------------------------------------------------------------------------


def _is_timm_model(net: nn.Module) -> bool:
    return all(callable(getattr(net, name, None)) for name in ("forward_features", "forward_head", "get_classifier",
                                                                "reset_classifier"))


def _trace(net: nn.Module):
    """The eval-mode FX graph of ``net`` as torchvision's feature extraction traces it, and each node's name."""
    from torchvision.models import feature_extraction as fe

    tracer = fe.NodePathTracer(**fe._set_default_tracer_kwargs(None))
    was_training = net.training
    try:
        graph = tracer.trace(net.eval())
    except Exception as exc:  # FX raises many types for code it cannot trace
        raise CheckpointError(f"cannot trace {type(net).__name__} with torch.fx to find its penultimate layer "
                              f"({type(exc).__name__}: {exc})") from exc
    finally:
        net.train(was_training)
    return graph, tracer.node_to_qualname


def _passes_through(node, net: nn.Module) -> bool:
    if node.op == "call_module":
        return isinstance(net.get_submodule(node.target), _PASS_MODULES)
    if node.op == "call_function":
        return node.target in _PASS_FUNCTIONS
    return node.op == "call_method" and node.target in _PASS_METHODS


def final_linear(net: nn.Module) -> tuple[str, str, str | None]:
    """The final Linear of ``net``, the node feeding it and the feature maps before any pooling, found in its graph.

    Returns:
        ``(linear, features, maps)``: the Linear's module path, the name of the node whose output is R(x), and
        the name of the last node before the pooling and reshaping that lead to R(x) (None where R(x) comes
        straight from a layer that is not pooling); whether R(x) is these maps' global average is for the
        caller to check.

    Raises:
        CheckpointError: the network's output is not computed by a Linear (e.g. a convolutional classifier).
    """
    graph, names = _trace(net)
    output = next(n for n in graph.nodes if n.op == "output")
    last = output.args[0]
    if not (hasattr(last, "op") and last.op == "call_module" and isinstance(net.get_submodule(last.target),
                                                                             nn.Linear)):
        raise CheckpointError(f"the output of {type(net).__name__} is not computed by a final nn.Linear "
                              f"(it comes from {getattr(last, 'name', last)!r}); R(x) cannot be taken from it")
    features = last.args[0]
    node = features
    while _passes_through(node, net) and hasattr(node.args[0], "op"):
        node = node.args[0]
    maps = names.get(node) if node is not features and node.op != "placeholder" else None
    return last.target, names[features], maps


def _extractor(net: nn.Module, nodes: Mapping[str, str]) -> nn.Module:
    from torchvision.models.feature_extraction import create_feature_extractor

    return create_feature_extractor(net, return_nodes=dict(nodes), suppress_diff_warning=True)


def _is_global_average(maps: torch.Tensor, features: torch.Tensor) -> bool:
    if maps.dim() != 4 or features.dim() != 2 or maps.shape[:2] != features.shape:
        return False
    return torch.allclose(maps.float().mean(dim=(2, 3)), features.float(), rtol=1e-4, atol=1e-5)


def choose_trunk(net: nn.Module, example: torch.Tensor) -> dict:
    """How R(x) is taken from ``net`` (the ``trunk`` of :func:`imported_spec`), checked on normalised ``example``.

    timm models use their own ``forward_features`` / ``forward_head``; any other network its FX graph
    (:func:`final_linear`). Feature maps are offered only where R(x) equals their global average on ``example``.
    """
    net = net.eval()
    with torch.no_grad():
        if _is_timm_model(net):
            if not isinstance(net.get_classifier(), nn.Linear):
                raise CheckpointError(f"the classifier of timm model {type(net).__name__} is "
                                      f"{type(net.get_classifier()).__name__}, not an nn.Linear; R(x) cannot be "
                                      "taken before it")
            maps = net.forward_features(example)
            return {"kind": "timm", "maps": _is_global_average(maps, net.forward_head(maps, pre_logits=True))}
        _, features, maps = final_linear(net)
        nodes = {features: "features", **({maps: "maps"} if maps else {})}
        out = _extractor(net, nodes)(example)
        if out["features"].dim() != 2:
            raise CheckpointError(f"the input of the final Linear of {type(net).__name__} (node {features!r}) has "
                                  f"shape {tuple(out['features'].shape)}, not (batch, features)")
        gap = maps is not None and _is_global_average(out["maps"], out["features"])
        return {"kind": "graph", "features": features, "maps": maps if gap else None}


def wrap_network(net: nn.Module, trunk: Mapping, *, class_index: Sequence[int] | None, mean: Sequence[float],
                 std: Sequence[float], input_size: int | None) -> ImportedClassifier:
    """``net`` (eval mode) as an :class:`ImportedClassifier`: the trunk ``trunk`` describes and its final Linear.

    A timm ``net`` loses its classifier (``reset_classifier(0)``): the head takes its place. The head is a
    new Linear holding the rows ``class_index`` of the network's final Linear (all rows where None).
    """
    net = net.eval()
    if trunk["kind"] == "timm":
        linear = net.get_classifier()
        body: nn.Module = (TimmMapsTrunk if trunk["maps"] else TimmTrunk)(net)
    elif trunk["kind"] == "graph":
        linear_path, _, _ = final_linear(net)
        linear = net.get_submodule(linear_path)
        if trunk["maps"]:
            body = GraphMapsTrunk(_extractor(net, {trunk["maps"]: "maps"}))
        else:
            body = GraphTrunk(_extractor(net, {trunk["features"]: "features"}))
    else:
        raise CheckpointError(f"unknown trunk kind {trunk['kind']!r} in an imported model's spec")
    head = restricted_linear(linear, class_index)
    if trunk["kind"] == "timm":
        net.reset_classifier(0)
    return ImportedClassifier(body.eval(), head, mean, std, input_size).eval()


def restricted_linear(linear: nn.Linear, class_index: Sequence[int] | None) -> nn.Linear:
    """A new Linear with rows ``class_index`` of ``linear`` (a copy of all of them where None)."""
    rows = torch.arange(linear.out_features) if class_index is None else torch.as_tensor(list(class_index))
    if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= linear.out_features):
        raise CheckpointError(f"class index {rows.tolist()} outside the network's {linear.out_features} outputs")
    head = nn.Linear(linear.in_features, len(rows), bias=linear.bias is not None)
    with torch.no_grad():
        head.weight.copy_(linear.weight[rows])
        if linear.bias is not None:
            head.bias.copy_(linear.bias[rows])
    return head


def build_imported(spec: Mapping) -> ImportedClassifier:
    """An untrained :class:`ImportedClassifier` of the architecture ``spec`` names, ready for its state dict."""
    net = build_network(spec["source"], spec["source_arch"], spec["source_options"], spec["source_classes"])
    return wrap_network(net, spec["trunk"], class_index=spec["class_index"], mean=spec["mean"], std=spec["std"],
                        input_size=spec["input_size"])
