import torch

from difflab.random import CHUNK, randn_per_sample


def test_a_sample_does_not_depend_on_the_batch():
    whole = randn_per_sample(7, 0, 3000, (2,))
    parts = torch.cat([randn_per_sample(7, s, 500, (2,)) for s in range(0, 3000, 500)])
    assert torch.equal(whole, parts)
    assert torch.equal(randn_per_sample(7, CHUNK - 3, 10, (2,)), whole[CHUNK - 3 : CHUNK + 7])
    assert not torch.equal(whole, randn_per_sample(8, 0, 3000, (2,)))
    assert not torch.equal(whole, randn_per_sample(7, 0, 3000, (2,), stream=1))
    assert abs(float(whole.mean())) < 0.05 and abs(float(whole.std()) - 1) < 0.05
