import pytest
import torch

from aidemed.nets import create_model, get_entry, list_models


@pytest.mark.parametrize("name", list_models("segmentation"))
@pytest.mark.parametrize("in_channels,out_channels", [(1, 2), (2, 3)])
def test_every_segmentation_network_maps_channels_and_keeps_size(name, in_channels, out_channels):
    net = create_model(name, in_channels, out_channels).eval()
    with torch.no_grad():
        out = net(torch.randn(2, in_channels, 32, 32))
    assert out.shape == (2, out_channels, 32, 32)
    assert get_entry(name).description


def test_unknown_model_names_the_available_ones():
    with pytest.raises(ValueError, match="unet-small"):
        create_model("no-such-net")
