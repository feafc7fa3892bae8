"""The scan computes in float32 under autocast: forward and hand-written backward agree with float32."""

from __future__ import annotations

import pytest
import torch
from test_scan import make_inputs, rel_err, run


def _autocast_matches_float32(device: str, dtype: torch.dtype, backend: str) -> None:
    leaves, extra = make_inputs(b=2, d=16, length=300, n=16, dtype=torch.float32, modulate=True, seed=1)
    leaves = {k: v.detach().to(device).requires_grad_() for k, v in leaves.items()}
    extra = {k: v.detach().to(device).requires_grad_() for k, v in extra.items()}
    ref = run(backend, leaves, extra)
    with torch.autocast(device_type=device, dtype=dtype):
        amp = run(backend, leaves, extra)
    assert amp[0].dtype == torch.float32
    assert rel_err(amp[0], ref[0]) < 1e-6, f"output differs by {rel_err(amp[0], ref[0]):.2e} under {dtype} autocast"
    assert rel_err(amp[1], ref[1]) < 1e-6
    for name in ref[2]:
        assert rel_err(amp[2][name], ref[2][name]) < 1e-6, (
            f"d{name} differs by {rel_err(amp[2][name], ref[2][name]):.2e}"
        )


@pytest.mark.parametrize("backend", ["chunked", "reference"])
def test_scan_under_cpu_bf16_autocast_matches_float32(backend):
    _autocast_matches_float32("cpu", torch.bfloat16, backend)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_chunked_scan_under_cuda_autocast_matches_float32(dtype):  # pragma: no cover - GPU machines only
    _autocast_matches_float32("cuda", dtype, "chunked")
