"""How much does importing a model from a zoo cost, next to the analyses that then run on it?

Measures, for torchvision's ResNet-50 on a Small-ImageNet-like dataset (150 wnid classes of 128-pixel images,
resized to 224 inside the model, as config/zoo.yaml imports MadryLab's ResNet-50s), side by side in one run:

  (a) import:  the whole import job (``robinterp.models.job.import_model``): read the weights file (random
               weights, written once before timing), build the network, find R(x) by FX tracing, check its
               logits against the network's on 8 test images, write the model file with the file's SHA-256;
  (b) load:    ``load_model`` of the written file, what every analysis job pays once (rebuild, trace, weights);
  (c) step:    one forward+backward pass (input gradient) of a batch of B images through the imported model
               (with the resize): a single step of one attack, of which an analysis runs thousands.

After a warm-up of each, the three are timed in turn R times (interleaved) and the median of each is reported,
with a/c and b/c: the import and the load in units of one batch step.

Usage::

    python benchmarks/bench_import.py [--device cpu|cuda] [--batch B] [--repeats R] [--threads T] [--amp]
                                      [--json PATH]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from robinterp.data.store import Split, write_prepared
from robinterp.models.checkpoint import load_model
from robinterp.models.job import import_model
from robinterp.models.running import autocast
from robinterp.models.settings import PretrainedSettings
from robinterp.models.zoo import imagenet_wnids

# The script runs as ``python benchmarks/bench_import.py``: make its sibling common.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import configure, device_name, interleaved_medians, write_json  # noqa: E402

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batch", type=int, default=8, help="images per forward+backward pass (default 8)")
    p.add_argument("--image-size", type=int, default=128, help="the dataset's images (default 128: Small ImageNet)")
    p.add_argument("--input-size", type=int, default=224, help="the network's input, resized inside (default 224)")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds R (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: 1 on cpu; 0 = torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amp", action="store_true", help="bf16 autocast and channels_last in (c), as the GPU runs do")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the numbers to PATH")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = configure(args)
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:  # ~200 MB of weights and model file
        return _run(args, device, Path(tmp))


def _run(args, device, work: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    classes = sorted(rng.choice(imagenet_wnids(), 150, replace=False).tolist())
    side = args.image_size
    test = Split(rng.integers(0, 256, (16, side, side, 3), dtype=np.uint8), np.arange(16) % 150)
    data = write_prepared(work / "data", "smallimagenet_like", classes, {"train": test, "test": test})
    weights = work / "resnet50.pth"
    torch.save(torchvision.models.resnet50(num_classes=1000).state_dict(), weights)
    settings = PretrainedSettings(source="torchvision", arch="resnet50", weights=str(weights), mean=IMAGENET_MEAN,
                                  std=IMAGENET_STD, classes="imagenet", input_size=args.input_size)
    model_file = work / "model.pt"
    import_model(data, settings, where="bench", out=model_file)
    model = load_model(model_file).to(device).eval()
    model.requires_grad_(False)
    if args.amp:
        model = model.to(memory_format=torch.channels_last)
    x = torch.rand(args.batch, 3, side, side, device=device)
    y = torch.randint(0, 150, (args.batch,), device=device)

    def imports():
        import_model(data, settings, where="bench", out=model_file)

    def loads():
        load_model(model_file).to(device)

    def step():
        xi = x.detach().requires_grad_(True)
        with autocast(device, args.amp):
            loss = F.cross_entropy(model(xi).float(), y)
        return torch.autograd.grad(loss, xi)[0]

    methods = {"a_import": imports, "b_load": loads, "c_forward_backward": step}
    median, samples = interleaved_medians(methods, args.repeats, device)
    result = {
        "config": {**vars(args), "threads": torch.get_num_threads(), "torch": torch.__version__,
                   "python": platform.python_version(), "device_name": device_name(device)},
        "seconds_median": median,
        "seconds_all": samples,
        "ratio_import_over_step": median["a_import"] / median["c_forward_backward"],
        "ratio_load_over_step": median["b_load"] / median["c_forward_backward"],
        "weights_file_mb": weights.stat().st_size / 2**20,
    }
    print(f"resnet50 (torchvision, random weights, {result['weights_file_mb']:.0f} MB file) on {args.device} "
          f"({result['config']['device_name']}, {torch.get_num_threads()} threads); 150 of 1000 classes, "
          f"{side}→{args.input_size} pixels; batch {args.batch}, amp={'on' if args.amp else 'off'}, "
          f"median of {args.repeats}")
    print(f"{'':<28}{'seconds':>10}{'min s':>9}{'max s':>9}")
    for name, t in median.items():
        print(f"{name:<28}{t:>10.3f}{min(samples[name]):>9.3f}{max(samples[name]):>9.3f}")
    print(f"a/c (import job vs one forward+backward of {args.batch}):  {result['ratio_import_over_step']:.1f}")
    print(f"b/c (load_model vs one forward+backward of {args.batch}):  {result['ratio_load_over_step']:.1f}")
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
