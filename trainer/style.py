"""Style features from a frozen VGG-16, for the SCS-Co contrastive losses.

The losses compare Gram matrices of VGG-16 activations (docs/DESIGN.md, "Losses"). The paper uses
ImageNet weights; this module finds them without surprises:

- ``"auto"``: torchvision's ImageNet weights if they are already in the torch hub cache (nothing
  is downloaded), else the fixed-seed random fallback, with a loud warning;
- ``"imagenet"``: torchvision's weights, downloaded if needed (an explicit request);
- ``"random"``: a fixed-seed random initialisation, identical on every machine and run;
- a file path: a ``.safetensors`` file (preferred) or a torchvision ``.pth`` state dict, read with
  ``torch.load(weights_only=True)``, never by full unpickling.

Only the convolutional layers up to the last style layer are kept.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3")
RANDOM_SOURCE = "random (seed 0) — NOT ImageNet; style losses are weaker"
IMAGENET_SOURCE = "imagenet (torchvision cache)"
# torchvision's VGG-16 ("configuration D"): channels of each conv, "M" for max pooling.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_RELU_NAMES = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3",
               "relu4_1", "relu4_2", "relu4_3", "relu5_1", "relu5_2", "relu5_3")  # fmt: skip
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_RANDOM_SEED = 0

log = logging.getLogger("trainer.style")


def _relu_indices() -> dict[str, int]:
    """Index in torchvision's ``vgg16().features`` of each named ReLU."""
    indices, i, relu = {}, 0, 0
    for item in _VGG16:
        if item == "M":
            i += 1
        else:
            indices[_RELU_NAMES[relu]] = i + 1
            i, relu = i + 2, relu + 1
    return indices


def _vgg_features(last: int) -> nn.Sequential:
    """torchvision's VGG-16 ``features`` up to and including layer ``last`` (same layer indices).

    The layers are built without weights (on the meta device): no time or global random state is
    spent on an initialisation that :func:`_init_random` replaces.
    """
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG16:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1, device="meta"), nn.ReLU(inplace=True)]
            channels = item
        if len(layers) > last:
            break
    return nn.Sequential(*layers[: last + 1])


class StyleFeatures(nn.Module):
    """A frozen, truncated VGG-16 returning the activations of the style layers.

    A new instance holds the fixed-seed random weights (the fallback); loaders replace them.
    Parameters never require grad and the module stays in eval mode (``train()`` is ignored), but
    gradients flow to the input. Convolutions run in channels-last layout (about 30 % faster on a
    CPU).

    Args:
        layers: names of the ReLU layers to return, e.g. ``("relu1_2", "relu2_2", "relu3_3")``.
        source: where the weights came from, for logs and checkpoint metadata.
        is_pretrained: whether the weights are ImageNet-trained (False for the random fallback).

    Shape:
        - input: ``(N, 3, H, W)`` RGB in ``[0, 1]`` (ImageNet normalisation is applied inside).
        - output: one ``(N, C_l, H / 2**s_l, W / 2**s_l)`` map per layer, in ``layers`` order.
    """

    def __init__(
        self, layers: tuple[str, ...] = STYLE_LAYERS, source: str = RANDOM_SOURCE, is_pretrained: bool = False
    ) -> None:
        super().__init__()
        indices = _relu_indices()
        unknown = [name for name in layers if name not in indices]
        if not layers or unknown:
            raise ValueError(f"unknown style layers {unknown or layers}; choose from {tuple(indices)}")
        self.layers = tuple(layers)
        self.source = source
        self.is_pretrained = is_pretrained
        self._taps = sorted({indices[name] for name in layers})
        self._order = [self._taps.index(indices[name]) for name in layers]
        self.features = _vgg_features(self._taps[-1]).to_empty(device="cpu")
        _init_random(self.features)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.to(memory_format=torch.channels_last)
        super().train(False)

    def train(self, mode: bool = True) -> StyleFeatures:
        """Stays in eval mode: the style network is frozen."""
        return super().train(False)

    def forward(self, rgb: Tensor) -> list[Tensor]:
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise ValueError(f"expected RGB of shape (N, 3, H, W), got {tuple(rgb.shape)}")
        x = ((rgb - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        outputs: list[Tensor] = []
        for i, layer in enumerate(self.features):
            x = layer(x)  # in-place ReLUs only overwrite fresh conv outputs, never a returned map
            if i in self._taps:
                outputs.append(x)
        return [outputs[k] for k in self._order]


def load_style_features(
    weights: str | os.PathLike = "auto", device: torch.device | str = "cpu", layers: tuple[str, ...] = STYLE_LAYERS
) -> StyleFeatures:
    """Build the style network with the requested weights.

    Args:
        weights: ``"auto"``, ``"imagenet"``, ``"random"`` or a path (see the module docstring).
        device: where the network runs.
        layers: style layers to return.

    Returns:
        A frozen :class:`StyleFeatures` on ``device``; its ``source`` says which weights it holds.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: a file that is not a VGG-16 state dict, or needs full unpickling.
        RuntimeError: ``"imagenet"`` when the weights cannot be downloaded.
    """
    name = os.fspath(weights)
    if name == "random":
        model = _random_model(layers)
    elif name == "auto":
        cached = _imagenet_cache_path()
        if cached.is_file():
            model = _from_state_dict(_torch_load(cached), layers, IMAGENET_SOURCE, True)
        else:
            log.warning(
                "ImageNet VGG-16 weights not found at %s; using a fixed-seed RANDOM VGG-16 for the style losses. "
                "They are weaker with it: pass weights='imagenet' (downloads) or a file to fix this.",
                cached,
            )
            model = _random_model(layers)
    elif name == "imagenet":
        model = _from_state_dict(_download_imagenet(), layers, IMAGENET_SOURCE, True)
    else:
        model = _from_file(Path(name), layers)
    return model.to(device)


def _imagenet_url() -> str:
    from torchvision.models import VGG16_Weights

    return VGG16_Weights.IMAGENET1K_V1.url


def _imagenet_cache_path() -> Path:
    """Where torch hub keeps torchvision's VGG-16 weights (honours ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(_imagenet_url()).path)


def _download_imagenet() -> dict[str, Tensor]:
    url = _imagenet_url()
    try:
        return torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=True, check_hash=True, weights_only=True
        )
    except (OSError, RuntimeError, ValueError) as error:  # URLError is an OSError
        raise RuntimeError(
            f"could not download torchvision's ImageNet VGG-16 weights from {url} ({error}). Offline? Copy the file "
            f"to {_imagenet_cache_path()}, pass its path instead, or use weights='random'."
        ) from error


def _random_model(layers: tuple[str, ...]) -> StyleFeatures:
    return StyleFeatures(layers, RANDOM_SOURCE, False)


def _init_random(features: nn.Sequential) -> None:
    """torchvision's initialisation variance, drawn reproducibly from seed 0.

    torchvision draws conv weights from a Kaiming normal (fan-out, ReLU gain) with zero biases.
    Here they come from a uniform distribution of the same variance, because CPU uniform draws
    from a seeded ``torch.Generator`` are bit-identical on every machine, while normal draws take
    vectorised code paths that differ between CPUs.
    """
    generator = torch.Generator().manual_seed(_RANDOM_SEED)
    with torch.no_grad():
        for layer in features:
            if isinstance(layer, nn.Conv2d):
                fan_out = layer.out_channels * layer.kernel_size[0] * layer.kernel_size[1]
                bound = 3**0.5 * (2.0 / fan_out) ** 0.5
                values = torch.rand(layer.weight.shape, generator=generator, dtype=torch.float64)
                layer.weight.copy_(((2 * values - 1) * bound).to(layer.weight.dtype))
                layer.bias.zero_()


def _torch_load(path: Path) -> dict[str, Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only refuses anything but tensors and plain containers
        raise ValueError(
            f"{path} could not be read as a plain state dict with torch.load(weights_only=True); it was not "
            f"unpickled further, since that can run arbitrary code ({type(error).__name__}: {error})"
        ) from error


def _from_file(path: Path, layers: tuple[str, ...]) -> StyleFeatures:
    if not path.is_file():
        raise FileNotFoundError(
            f"style weights {str(path)!r} not found (expected 'auto', 'imagenet', 'random' or a file path)"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    else:
        state = _torch_load(path)
    return _from_state_dict(state, layers, f"file: {path}", True)


def _from_state_dict(state: object, layers: tuple[str, ...], source: str, is_pretrained: bool) -> StyleFeatures:
    """Load torchvision-named weights (``features.N.weight``; a bare ``N.weight`` also works)."""
    if not isinstance(state, dict):
        raise ValueError(f"expected a state dict (names to tensors) from {source}, got {type(state).__name__}")
    model = StyleFeatures(layers, source, is_pretrained)
    wanted = model.state_dict()
    found = {}
    for key, value in state.items():
        name = key if str(key).startswith("features.") else f"features.{key}"
        if name in wanted:
            found[name] = value
    missing = sorted(set(wanted) - set(found))
    if missing:
        more = " ..." if len(missing) > 4 else ""
        raise ValueError(f"{source} is not a VGG-16 state dict: missing {', '.join(missing[:4])}{more}")
    for name, value in found.items():
        if not isinstance(value, Tensor) or value.shape != wanted[name].shape:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"{source}: {name} has shape {shape}, expected {tuple(wanted[name].shape)}")
    model.load_state_dict(found)
    return model
