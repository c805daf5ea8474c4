import pytest
import torch

from aidemed.nets import create_model, get_entry, list_models


def test_the_classifiers_are_registered():
    assert {"densenet121", "resnet18", "resnet10", "densenet-tiny", "resnet-tiny"} <= set(list_models("classification"))
    assert not set(list_models("classification")) & set(list_models("segmentation"))


@pytest.mark.parametrize("name", list_models("classification"))
@pytest.mark.parametrize("num_classes", [1, 3])
def test_every_classifier_maps_images_to_logits(name, num_classes):
    torch.manual_seed(0)
    net = create_model(name, 1, num_classes).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 64, 64))
    assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()
    assert get_entry(name).task == "classification" and get_entry(name).description


def test_tiny_classifier_trains_one_step_multilabel_with_two_channels():
    torch.manual_seed(0)
    net = create_model("resnet-tiny", 2, 4).train()
    logits = net(torch.randn(3, 2, 48, 48))
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones(3, 4))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters() if p.requires_grad)
