"""benchmarks.decoders_cuda: one clear line without CUDA; on a GPU, a row per lattice."""
import json

import pytest
import torch

from benchmarks import decoders_cuda


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_without_cuda_exits_2_with_one_line(capsys):
    assert decoders_cuda.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA device" in err[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rows_on_cuda(capsys):
    assert decoders_cuda.main(["--lattices", "z8,e8,leech", "--megabytes", "1", "--repeats", "1",
                               "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["lattice"] for r in rows] == ["z8", "e8", "leech"]
    assert all(r["points_per_s"] > 0 and r["x_copy"] > 0 for r in rows)
