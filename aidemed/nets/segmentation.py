"""Segmentation networks: thin, named configurations of MONAI's U-Nets (2D)."""

from __future__ import annotations

from monai.networks.nets import BasicUNet, UNet

from aidemed.nets.registry import register_model


@register_model("unet-small", description="MONAI UNet, 4 levels (16-128 channels), 1 residual unit: fast on CPU")
def unet_small(in_channels: int, out_channels: int, **kwargs):
    return UNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels, channels=(16, 32, 64, 128),
                strides=(2, 2, 2), num_res_units=1, norm="batch", **kwargs)


@register_model("unet-base", description="MONAI UNet, 5 levels (16-256 channels), 2 residual units: the MONAI "
                "tutorials' 2D U-Net, about as fast as unet-small on CPU at 128 px")
def unet_base(in_channels: int, out_channels: int, **kwargs):
    return UNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels, channels=(16, 32, 64, 128, 256),
                strides=(2, 2, 2, 2), num_res_units=2, norm="batch", **kwargs)


@register_model("unet", description="MONAI UNet, 5 levels (32-512 channels), 2 residual units")
def unet(in_channels: int, out_channels: int, **kwargs):
    return UNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels, channels=(32, 64, 128, 256, 512),
                strides=(2, 2, 2, 2), num_res_units=2, norm="batch", **kwargs)


@register_model("basicunet", description="MONAI BasicUNet (32-256 features), the classic U-Net")
def basicunet(in_channels: int, out_channels: int, **kwargs):
    return BasicUNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels,
                     features=(32, 32, 64, 128, 256, 32), **kwargs)


@register_model("basicunet-small", description="MONAI BasicUNet with half the features (16-128)")
def basicunet_small(in_channels: int, out_channels: int, **kwargs):
    return BasicUNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels,
                     features=(16, 16, 32, 64, 128, 16), **kwargs)
