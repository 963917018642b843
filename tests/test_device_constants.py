"""lattices._spec.device_constant: the eager decoders' constants are copied to a device once."""
import numpy as np
import torch

from lattices._spec import device_constant


def test_same_content_same_tensor_other_dtype_or_content_another():
    a = np.array([0.5, 0.5, 0.0])
    t1 = device_constant(a, torch.float64, "cpu")
    t2 = device_constant(a.copy(), torch.float64, torch.device("cpu"))
    assert t1 is t2 and t1.dtype == torch.float64 and torch.equal(t1, torch.tensor(a))
    assert device_constant(a, torch.float32, "cpu") is not t1
    assert device_constant(a[:2], torch.float64, "cpu") is not t1          # shape is part of the key
    assert not torch.equal(device_constant(a + 1, torch.float64, "cpu"), t1)


def test_eager_decoder_uses_the_cache_and_gives_the_kernel_points():
    import lattices

    lat = lattices.get("e7")                                  # an isometry: T, glue and basis constants
    x = torch.randn(500, lat.dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2
    seg = lat._segments[0]
    eager = seg.spec.decode_torch(x.reshape(500, seg.copies, seg.width), seg.scales).reshape(500, -1)
    again = seg.spec.decode_torch(x.reshape(500, seg.copies, seg.width), seg.scales).reshape(500, -1)
    ref = torch.from_numpy(lat.nearest(x.numpy()))
    assert torch.equal(eager, again)
    assert torch.allclose(((x - eager) ** 2).sum(-1), ((x - ref) ** 2).sum(-1), rtol=0, atol=1e-9)


def test_nearest_torch_unchecked_is_nearest_on_finite_input():
    import lattices

    for name in ("z2", "a2", "e8", "e8^2", "d4"):
        lat = lattices.parse(name)
        x = torch.randn(300, lat.dim, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 3
        got = lat.nearest_torch_unchecked(x)
        ref = torch.as_tensor(lat.nearest(x.numpy()))
        assert got.shape == x.shape and got.dtype == x.dtype
        assert torch.allclose(((x - got) ** 2).sum(-1), ((x - ref) ** 2).sum(-1), rtol=0, atol=1e-9)
