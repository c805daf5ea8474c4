"""Image classifiers (2D): named configurations of MONAI's DenseNet and ResNet.

Factories take (in_channels, num_classes) and return a network mapping (N, C, H, W) images to
(N, num_classes) logits: softmax them for multi-class, sigmoid them (one output per finding) for
multi-label. Weights are randomly initialised (no download). Extra keyword arguments go to MONAI.
"""

from __future__ import annotations

from monai.networks.nets import DenseNet, DenseNet121, ResNet, resnet10 as monai_resnet10, resnet18 as monai_resnet18

from aidemed.nets.registry import register_model


def _resnet_2d(kwargs: dict) -> dict:
    # 2D ImageNet-style stem: 7x7 stride-2 convolution + max pool (MONAI's default stride is 1)
    return {"conv1_t_stride": 2, **kwargs}


@register_model("densenet121", task="classification", description="MONAI DenseNet-121 (2D, growth 32, 6-12-24-16)")
def densenet121(in_channels: int, num_classes: int, **kwargs):
    return DenseNet121(spatial_dims=2, in_channels=in_channels, out_channels=num_classes, **kwargs)


@register_model("resnet18", task="classification", description="MONAI ResNet-18 (2D, basic blocks 2-2-2-2, 64-512)")
def resnet18(in_channels: int, num_classes: int, **kwargs):
    return monai_resnet18(spatial_dims=2, n_input_channels=in_channels, num_classes=num_classes, **_resnet_2d(kwargs))


@register_model("resnet10", task="classification", description="MONAI ResNet-10 (2D, basic blocks 1-1-1-1, 64-512)")
def resnet10(in_channels: int, num_classes: int, **kwargs):
    return monai_resnet10(spatial_dims=2, n_input_channels=in_channels, num_classes=num_classes, **_resnet_2d(kwargs))


@register_model("densenet-tiny", task="classification",
                description="MONAI DenseNet, 16 initial features, growth 8, blocks 2-2-2: fast on CPU")
def densenet_tiny(in_channels: int, num_classes: int, **kwargs):
    return DenseNet(spatial_dims=2, in_channels=in_channels, out_channels=num_classes,
                    **{"init_features": 16, "growth_rate": 8, "block_config": (2, 2, 2), "bn_size": 2, **kwargs})


@register_model("resnet-tiny", task="classification",
                description="MONAI ResNet, basic blocks 1-1-1-1 with 8-64 channels: fast on CPU")
def resnet_tiny(in_channels: int, num_classes: int, **kwargs):
    return ResNet(**{"block": "basic", "layers": [1, 1, 1, 1], "block_inplanes": [8, 16, 32, 64], "spatial_dims": 2,
                     "n_input_channels": in_channels, "num_classes": num_classes, **_resnet_2d(kwargs)})
