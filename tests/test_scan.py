"""The selective-scan backends agree with each other and with the recurrence they implement."""

from __future__ import annotations

import pytest
import torch

from dpmambair.ops import cuda_scan_available, resolve_backend, selective_scan
from dpmambair.ops.scan_chunked import ChunkedSelectiveScan

NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def make_inputs(b=2, d=6, length=75, n=4, groups=None, dtype=torch.float64, softplus=True, seed=0, modulate=False):
    """Random leaf tensors; with `modulate`, Δ/B/C are multiplied by per-image prompt vectors α (as DP-SSM does)."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen, dtype=dtype) * scale).requires_grad_()

    bshape = (b, n, length) if groups is None else (b, groups, n, length)
    leaves = {
        "u": rnd(b, d, length),
        # softplus on: any real Δ; softplus off: Δ is already positive (as after softplus in the layer)
        "delta": rnd(b, d, length, scale=0.5)
        if softplus
        else (torch.rand(b, d, length, generator=gen, dtype=dtype) * 0.5).requires_grad_(),
        "A": (-torch.rand(d, n, generator=gen, dtype=dtype) * 4 - 0.1).requires_grad_(),
        "B": rnd(*bshape),
        "C": rnd(*bshape),
        "D": rnd(d),
        "z": rnd(b, d, length),
        "delta_bias": rnd(d, scale=0.3)
        if softplus
        else (torch.rand(d, generator=gen, dtype=dtype) * 0.2).requires_grad_(),
    }
    extra = {}
    if modulate:
        extra = {
            "a_delta": (torch.rand(b, d, generator=gen, dtype=dtype) + 0.5).requires_grad_(),
            "a_B": rnd(b, n),
            "a_C": rnd(b, n),
        }
    return leaves, extra


def run(backend, leaves, extra, softplus=True, use_z=True, use_D=True, use_bias=True, **kw):
    t = dict(leaves)
    if extra:
        t["delta"] = t["delta"] * extra["a_delta"][..., None]
        if t["B"].dim() == 3:
            t["B"] = t["B"] * extra["a_B"][..., None]
            t["C"] = t["C"] * extra["a_C"][..., None]
        else:
            t["B"] = t["B"] * extra["a_B"][:, None, :, None]
            t["C"] = t["C"] * extra["a_C"][:, None, :, None]
    out, last = selective_scan(
        t["u"],
        t["delta"],
        t["A"],
        t["B"],
        t["C"],
        D=t["D"] if use_D else None,
        z=t["z"] if use_z else None,
        delta_bias=t["delta_bias"] if use_bias else None,
        delta_softplus=softplus,
        return_last_state=True,
        backend=backend,
        **kw,
    )
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=out.device).view_as(out)
    wrt = {**leaves, **extra}
    if not use_z:
        wrt.pop("z")
    if not use_D:
        wrt.pop("D")
    if not use_bias:
        wrt.pop("delta_bias")
    grads = torch.autograd.grad((out * weights).sum(), list(wrt.values()))
    return out, last, dict(zip(wrt.keys(), grads))


def to_device(tensors, device):
    """Fresh leaves on `device` (the GPU tests' inputs: weights, α's and all follow the input's device)."""
    return {k: v.detach().to(device).requires_grad_() for k, v in tensors.items()}


# a device other than the CPU: a GPU where there is one, else the meta device (shapes and devices, no values)
OTHER_DEVICE = torch.device("cuda") if torch.cuda.is_available() else torch.device("meta")


def test_the_gpu_tests_keep_every_tensor_on_the_inputs_device():
    """run() (which the GPU tests use) builds nothing on the CPU: outputs and every gradient, α's included,
    live on the inputs' device."""
    leaves, extra = make_inputs(b=1, d=4, length=20, n=4, dtype=torch.float32, modulate=True)
    out, last, grads = run("chunked", to_device(leaves, OTHER_DEVICE), to_device(extra, OTHER_DEVICE))
    assert out.device.type == last.device.type == OTHER_DEVICE.type
    assert {"a_delta", "a_B", "a_C", "u", "delta", "A", "B", "C", "D", "z", "delta_bias"} == set(grads)
    assert all(g.device.type == OTHER_DEVICE.type for g in grads.values())


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


CASES = [
    dict(softplus=True, use_z=True),
    dict(softplus=False, use_z=True),
    dict(softplus=True, use_z=False, use_D=False, use_bias=False),
    dict(softplus=False, use_z=False),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("modulate", [False, True], ids=["plain", "modulated"])
@pytest.mark.parametrize("groups", [None, 2], ids=["B3d", "B4d-groups"])
def test_chunked_matches_reference_float64(case, modulate, groups):
    leaves, extra = make_inputs(groups=groups, softplus=case["softplus"], modulate=modulate)
    ref = run("reference", leaves, extra, **case)
    chk = run("chunked", leaves, extra, chunk_size=32, **case)  # 75 = 2 full chunks + a padded one
    assert rel_err(chk[0], ref[0]) < 1e-10
    assert rel_err(chk[1], ref[1]) < 1e-10
    assert ref[2].keys() == chk[2].keys()
    for name in ref[2]:
        assert rel_err(chk[2][name], ref[2][name]) < 1e-10, name
    expected = {"u", "delta", "A", "B", "C"} | ({"a_delta", "a_B", "a_C"} if modulate else set())
    assert expected <= set(chk[2])


@pytest.mark.parametrize("case", CASES[:2], ids=["softplus", "no-softplus"])
def test_chunked_matches_reference_float32(case):
    leaves, extra = make_inputs(
        b=2, d=16, length=300, n=16, dtype=torch.float32, softplus=case["softplus"], modulate=True, seed=1
    )
    ref = run("reference", leaves, extra, **case)
    chk = run("chunked", leaves, extra, **case)
    assert chk[0].dtype == torch.float32
    assert rel_err(chk[0], ref[0]) < 1e-4
    for name in ref[2]:
        assert rel_err(chk[2][name], ref[2][name]) < 1e-4, name


@pytest.mark.parametrize("chunk_size,segment", [(1, 1), (5, 2), (16, 16), (64, 8), (1000, 16)])
def test_chunk_and_segment_sizes_do_not_change_the_result(chunk_size, segment):
    leaves, _ = make_inputs(length=50)
    ref = run("reference", leaves, {})
    t = leaves
    from dpmambair.ops.scan_chunked import scan_chunked

    out = scan_chunked(
        t["u"],
        t["delta"],
        t["A"],
        t["B"].unsqueeze(1),
        t["C"].unsqueeze(1),
        t["D"],
        t["z"],
        t["delta_bias"],
        True,
        False,
        chunk_size=chunk_size,
        segment=segment,
    )
    assert rel_err(out, ref[0]) < 1e-10


def test_strong_decay_and_long_sequences_stay_finite():
    """Huge Δ·|A| (exp underflows to 0) must neither overflow nor produce NaN, in output or gradients."""
    leaves, _ = make_inputs(b=1, d=4, length=400, n=8, dtype=torch.float32, softplus=False)
    with torch.no_grad():
        leaves["delta"].mul_(200.0)  # Δ up to 100, |A| up to 4: per-step log-decay down to -400
        leaves["A"].mul_(10.0)
    ref = run("reference", leaves, {}, softplus=False)
    chk = run("chunked", leaves, {}, softplus=False)
    assert torch.isfinite(chk[0]).all()
    assert all(torch.isfinite(g).all() for g in chk[2].values())
    assert rel_err(chk[0], ref[0]) < 1e-4


def test_half_precision_inputs_are_computed_in_float32():
    leaves, _ = make_inputs(b=1, d=8, length=64, n=4, dtype=torch.float32)
    full = {k: v.detach() for k, v in leaves.items()}
    half = {k: v.to(torch.bfloat16) for k, v in full.items()}
    out_half = selective_scan(
        half["u"],
        half["delta"],
        half["A"],
        half["B"],
        half["C"],
        half["D"],
        half["z"],
        half["delta_bias"],
        delta_softplus=True,
        backend="chunked",
    )
    # the same bf16-rounded values, scanned in float32
    rounded = {k: v.float() for k, v in half.items()}
    out_f32 = selective_scan(
        rounded["u"],
        rounded["delta"],
        rounded["A"],
        rounded["B"],
        rounded["C"],
        rounded["D"],
        rounded["z"],
        rounded["delta_bias"],
        delta_softplus=True,
        backend="chunked",
    )
    assert out_half.dtype == torch.bfloat16
    assert torch.allclose(out_half.float(), out_f32.to(torch.bfloat16).float(), atol=0, rtol=0)


def test_chunked_backward_never_saves_a_full_state_tensor():
    b, d, length, n = 1, 8, 512, 16
    leaves, _ = make_inputs(b=b, d=d, length=length, n=n, dtype=torch.float32)
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        t = leaves
        out = ChunkedSelectiveScan.apply(
            t["u"],
            t["delta"],
            t["A"],
            t["B"].unsqueeze(1),
            t["C"].unsqueeze(1),
            t["D"],
            t["z"],
            t["delta_bias"],
            True,
            128,
            16,
        )[0]
    out.sum().backward()
    assert sizes, "the chunked scan saved nothing for backward"
    assert max(sizes) < b * d * length * n / 4


def test_auto_backend_on_cpu_is_chunked():
    assert resolve_backend("auto", torch.device("cpu")) == "chunked"


def test_cuda_backend_on_cpu_tensors_is_a_clear_error():
    leaves, _ = make_inputs(dtype=torch.float32)
    t = {k: v.detach() for k, v in leaves.items()}
    with pytest.raises((ValueError, RuntimeError), match="cuda|CUDA"):
        selective_scan(t["u"], t["delta"], t["A"], t["B"], t["C"], backend="cuda")


def test_unknown_backend_is_rejected():
    leaves, _ = make_inputs(dtype=torch.float32)
    t = {k: v.detach() for k, v in leaves.items()}
    with pytest.raises(ValueError, match="unknown backend 'fast'"):
        selective_scan(t["u"], t["delta"], t["A"], t["B"], t["C"], backend="fast")


@pytest.mark.parametrize(
    "name,bad,match",
    [
        ("u", torch.zeros(2, 6), r"'u' must have shape \(b, d, l\)"),
        ("delta", torch.zeros(2, 6, 74), r"'delta' must have shape \(b, d, l\)"),
        ("A", torch.zeros(5, 4), r"'A' must have shape \(d, n\) with d=6"),
        ("B", torch.zeros(2, 4), r"'B' must have shape \(b, n, l\) or \(b, g, n, l\)"),
        ("B", torch.zeros(2, 3, 75), r"'B' must have shape \(b, n, l\)"),
        ("C", torch.zeros(2, 4, 4, 75), r"'C' has g=4 groups, which must divide d=6"),
        ("D", torch.zeros(5), r"'D' must have shape \(d,\)"),
        ("z", torch.zeros(2, 6, 70), r"'z' must have shape \(b, d, l\)"),
        ("delta_bias", torch.zeros(6, 1), r"'delta_bias' must have shape \(d,\)"),
    ],
)
def test_bad_shapes_name_the_argument(name, bad, match):
    leaves, _ = make_inputs(dtype=torch.float32)
    t = {k: v.detach() for k, v in leaves.items()}
    t[name] = bad
    with pytest.raises(ValueError, match=match):
        selective_scan(t["u"], t["delta"], t["A"], t["B"], t["C"], D=t["D"], z=t["z"], delta_bias=t["delta_bias"])


@pytest.mark.skipif(
    not (torch.cuda.is_available() and cuda_scan_available()),
    reason="needs a CUDA GPU and mamba_ssm's kernel "
    "(MAMBA_KEEP_CUDA_BUILD=TRUE pip install --no-build-isolation -r requirements-cuda.txt)",
)
def test_cuda_kernel_matches_chunked_on_gpu():  # pragma: no cover - GPU machines only
    leaves, extra = make_inputs(b=2, d=32, length=500, n=16, dtype=torch.float32, modulate=True)
    gpu, gex = to_device(leaves, "cuda"), to_device(extra, "cuda")
    ref = run("chunked", gpu, gex)
    cud = run("cuda", gpu, gex)
    assert rel_err(cud[0], ref[0]) < 1e-3
    assert {"a_delta", "a_B", "a_C"} <= set(ref[2])  # the modulation gradients through the kernel
    for name in ref[2]:
        assert rel_err(cud[2][name], ref[2][name]) < 1e-2, name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_chunked_runs_on_gpu():  # pragma: no cover - GPU machines only
    leaves, extra = make_inputs(dtype=torch.float64, modulate=True)
    cpu = run("chunked", leaves, extra)
    gpu = run("chunked", to_device(leaves, "cuda"), to_device(extra, "cuda"))
    assert rel_err(gpu[0].cpu(), cpu[0]) < 1e-10


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("groups", [None, 2], ids=["B3d", "B4d-groups"])
def test_blocked_matches_reference_float64(case, groups):
    """The export backend (no loop over the length): same outputs, last state and gradients."""
    leaves, extra = make_inputs(groups=groups, softplus=case["softplus"], modulate=True)
    ref = run("reference", leaves, extra, **case)
    blk = run("blocked", leaves, extra, **case)
    assert rel_err(blk[0], ref[0]) < 1e-10 and rel_err(blk[1], ref[1]) < 1e-10
    for name in ref[2]:
        assert rel_err(blk[2][name], ref[2][name]) < 1e-10, name


@pytest.mark.parametrize("length", [1, 16, 17, 300, 4099])
def test_blocked_lengths_across_group_levels(length):
    """Lengths below, at and above one group, and past two levels of groups (16² = 256, 16³ = 4096)."""
    leaves, _ = make_inputs(b=1, d=3, length=length, n=2)
    ref = run("reference", leaves, {})
    blk = run("blocked", leaves, {})
    assert rel_err(blk[0], ref[0]) < 1e-10 and rel_err(blk[1], ref[1]) < 1e-10


def test_blocked_backend_in_the_network_matches_chunked():
    from dpmambair.archs import build_network

    opt = {"type": "DPMambaIR", "dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "d_state": 4}
    torch.manual_seed(0)
    net = build_network(dict(opt, embed_dim=16, prompt_hidden=8)).eval()
    x, emb = torch.rand(1, 3, 24, 40), torch.randn(1, 16)
    with torch.no_grad():
        chunked = net(x, embedding=emb)
        for m in net.modules():
            if hasattr(m, "scan_backend"):
                m.scan_backend = "blocked"
        blocked = net(x, embedding=emb)
    assert torch.allclose(blocked, chunked, atol=1e-5)
