"""The U-Net: shapes for odd sizes, batch independence, the class condition and its null class."""

import pytest
import torch

from difflab.nn.unet import UNet


@pytest.mark.parametrize("size", [8, 25, 28, 32])
def test_shapes_for_odd_sizes(size):
    net = UNet((3, size, size), channels=16, mults=(1, 2, 2), blocks=1)
    x = torch.randn(2, 3, size, size)
    assert net(x, torch.zeros(2)).shape == x.shape


def _net(num_classes=0):
    torch.manual_seed(0)
    net = UNet((1, 12, 12), channels=16, mults=(1, 2), blocks=1, num_classes=num_classes).eval()
    for p in net.parameters():  # zero-initialised outputs would make every test below trivial
        torch.nn.init.normal_(p, std=0.2)
    return net


def test_a_batch_of_one_equals_the_same_item_in_a_batch():
    """No batch statistics (GroupNorm, not BatchNorm): sample i does not depend on the others."""
    net = _net()
    x, c = torch.randn(5, 1, 12, 12), torch.linspace(-1, 1, 5)
    with torch.no_grad():
        full = net(x, c)
        for i in range(5):
            assert torch.allclose(net(x[i : i + 1], c[i : i + 1]), full[i : i + 1], atol=1e-5)


def test_class_changes_the_output_and_none_is_the_null_class():
    net = _net(num_classes=4)
    x, c = torch.randn(3, 1, 12, 12), torch.zeros(3)
    with torch.no_grad():
        none, null = net(x, c), net(x, c, torch.full((3,), -1))
        k0, k1 = (
            net(x, c, torch.zeros(3, dtype=torch.long)),
            net(x, c, torch.ones(3, dtype=torch.long)),
        )
    assert torch.equal(none, null)
    assert not torch.allclose(k0, k1, atol=1e-3) and not torch.allclose(k0, none, atol=1e-3)


def test_output_starts_at_zero():
    """The zero-initialised last convolution makes D = c_skip·x̂ at initialisation."""
    net = UNet((1, 8, 8), channels=16, mults=(1, 2), blocks=1)
    assert net(torch.randn(2, 1, 8, 8), torch.zeros(2)).abs().max() == 0
