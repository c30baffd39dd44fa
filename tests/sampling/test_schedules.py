import pytest
import torch

from difflab.errors import DifflabError
from difflab.sampling import check_sigmas, karras_sigmas, sample


def test_karras_formula():
    s = karras_sigmas(18, 0.002, 80.0, rho=7.0)
    assert len(s) == 19 and s[-1] == 0
    assert float(s[0]) == pytest.approx(80.0) and float(s[-2]) == pytest.approx(0.002)
    # EDM Eq. 5: σ^(1/ρ) is linear in i
    r = s[:-1] ** (1 / 7)
    assert torch.allclose(r[1:] - r[:-1], (r[1] - r[0]).expand(17), rtol=1e-9)


@pytest.mark.parametrize(
    "bad",
    [
        torch.tensor([1.0, 2.0, 0.0]),  # increasing
        torch.tensor([2.0, 1.0, 1.0, 0.0]),  # repeated
        torch.tensor([2.0, 1.0]),  # does not end with 0
        torch.tensor([float("nan"), 1.0, 0.0]),  # not finite
        torch.tensor([0.0]),  # too short
        torch.tensor([[2.0, 0.0]]),  # not 1-D
    ],
)
def test_bad_grids_are_refused(bad):
    with pytest.raises(DifflabError):
        check_sigmas(bad)
    with pytest.raises(DifflabError):
        sample(lambda x, s: x, torch.zeros(2, 1), bad)


def test_bad_schedule_arguments():
    with pytest.raises(DifflabError):
        karras_sigmas(0, 0.002, 80)
    with pytest.raises(DifflabError):
        karras_sigmas(10, 80, 0.002)


def test_vp_time_grid_is_uniform_in_vp_time_for_any_preset():
    from difflab.processes import VP
    from difflab.sampling.schedules import make_sigmas

    sigmas = make_sigmas("vp-time", 6, 0.002, 80.0)
    t = VP().t_of_sigma(sigmas[:-1])
    assert torch.allclose(torch.diff(t), torch.diff(t)[:1].expand(5), rtol=1e-9)
    assert float(sigmas[0]) == pytest.approx(80.0) and float(sigmas[-2]) == pytest.approx(0.002)
