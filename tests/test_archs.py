"""Networks: option files build, shapes, per-image prompts, ablation switches, HEB, CDC, input checks, size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from dpmambair.archs import build_network
from dpmambair.archs.degradation_extractor_arch import CentralDifferenceConv2d
from dpmambair.archs.dpmambair_arch import DPMambaIR
from dpmambair.archs.dpss_block_arch import DPSSBlock
from dpmambair.archs.dpssm_arch import DPSSM, PromptConcat, PromptCrossAttention, PromptMapping
from dpmambair.archs.heb_arch import HEB
from dpmambair.utils.complexity import count_macs, count_params
from dpmambair.utils.options import parse_options

ROOT = Path(__file__).resolve().parents[1]
OPTION_FILES = sorted((ROOT / "options").rglob("*.yml"))
EMBED = 32
TINY = dict(
    dim=8,
    num_blocks=[1, 1, 1, 1],
    num_refinement_blocks=1,
    ffn_expansion_factor=2.0,
    d_state=4,
    embed_dim=EMBED,
    prompt_hidden=8,
)


def tiny(**overrides) -> DPMambaIR:
    torch.manual_seed(0)
    return DPMambaIR(**{**TINY, **overrides}).eval()


def randomise_prompts(model: nn.Module) -> None:
    """Give the zero-initialised last layers of every M_* and of the concat / attention fusions random values,
    as training would."""
    gen = torch.Generator().manual_seed(1)
    zeroed = {PromptMapping: lambda m: m[-1], PromptConcat: lambda m: m.fuse_up, PromptCrossAttention: lambda m: m.proj}
    for m in model.modules():
        last = zeroed[type(m)](m) if type(m) in zeroed else None
        if last is not None:
            with torch.no_grad():
                last.weight.copy_(torch.randn(last.weight.shape, generator=gen) * 0.5)
                if last.bias is not None:
                    last.bias.copy_(torch.randn(last.bias.shape, generator=gen) * 0.5)


def run(model: nn.Module, *args, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model(*args, **kwargs)


# ----------------------------------------------------------------------------------------- option files
@pytest.mark.parametrize("path", OPTION_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_option_file_builds_its_networks(path):
    opt = parse_options(path)
    built = 0
    for key in ("network_g", "network_de", "network_r"):
        if opt.get(key):
            assert isinstance(build_network(opt[key], f"{path}: {key}"), nn.Module)
            built += 1
    assert built >= 1


def _opt(name: str) -> dict:
    return parse_options(ROOT / "options" / name)


def test_default_restorer_has_the_paper_size():
    net = build_network(_opt("allinone.yml")["network_g"])
    params = count_params(net)
    assert abs(params - 29.35e6) <= 0.05 * 29.35e6, params


def test_ablation_files_state_only_name_and_switches():
    base = _opt("allinone.yml")
    for path in sorted((ROOT / "options" / "ablation").glob("*.yml")):
        text = path.read_text()
        assert "inherit: ../allinone.yml" in text
        opt = parse_options(path)
        assert opt["name"] != base["name"]
        assert opt["train"] == base["train"] and opt["datasets"] == base["datasets"], path


def test_table3_baseline_has_no_prompt_and_no_heb():
    net = build_network(_opt("ablation/table3_baseline.yml")["network_g"])
    assert net.prompt_parameters() == []
    assert not any(isinstance(m, HEB) for m in net.modules())


def test_bidirectional_variant_is_larger_in_params_and_macs():
    single = build_network(_opt("allinone.yml")["network_g"]).eval()
    bidir = build_network(_opt("ablation/table5_bidirectional.yml")["network_g"]).eval()
    assert count_params(bidir) > count_params(single)
    x, emb = torch.rand(1, 3, 16, 16), torch.randn(1, 512)
    m_single, m_bidir = count_macs(single, x, embedding=emb), count_macs(bidir, x, embedding=emb)
    assert m_bidir["total"] > m_single["total"] and m_bidir["scan"] == 2 * m_single["scan"]


# ----------------------------------------------------------------------------------------- restorer
@pytest.mark.parametrize("size", [(37, 53), (8, 8), (1, 1), (3, 5), (7, 2)])
def test_output_shape_equals_input_shape(size):
    net = tiny()
    x = torch.rand(2, 3, *size)
    assert run(net, x, torch.randn(2, EMBED)).shape == x.shape


def test_each_image_uses_its_own_embedding():
    net = tiny()
    randomise_prompts(net)
    x, emb = torch.rand(3, 3, 19, 21), torch.randn(3, EMBED)
    batched = run(net, x, emb)
    for i in range(3):
        torch.testing.assert_close(batched[i : i + 1], run(net, x[i : i + 1], emb[i : i + 1]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("switch", ["prompt_delta", "prompt_B", "prompt_C"])
def test_each_prompt_makes_the_embedding_matter(switch):
    others = {k: k == switch for k in ("prompt_delta", "prompt_B", "prompt_C")}
    net = tiny(**others)
    randomise_prompts(net)
    x = torch.rand(1, 3, 16, 16)
    e1, e2 = torch.randn(1, EMBED), torch.randn(1, EMBED)
    assert not torch.allclose(run(net, x, e1), run(net, x, e2), atol=1e-5)


def test_untrained_prompts_are_the_identity():
    """α = 1 at initialisation: with prompts, the output equals the prompt-free model with the same weights."""
    with_prompts, without = tiny(), tiny(prompt_delta=False, prompt_B=False, prompt_C=False)
    without.load_state_dict(with_prompts.state_dict(), strict=False)
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(run(with_prompts, x, torch.randn(1, EMBED)), run(without, x))


def test_prompts_off_embedding_has_no_effect_and_no_parameters():
    net = tiny(prompt_delta=False, prompt_B=False, prompt_C=False)
    assert net.prompt_parameters() == []
    assert not any(isinstance(m, PromptMapping) for m in net.modules())
    x = torch.rand(1, 3, 16, 16)
    out = run(net, x, torch.randn(1, EMBED))
    assert torch.equal(out, run(net, x, torch.randn(1, EMBED)))
    assert torch.equal(out, run(net, x))  # embedding may be None


@pytest.mark.parametrize("insertion", ["concat", "attention"])
def test_other_insertions_use_the_embedding_without_modulation(insertion):
    net = tiny(insertion=insertion)
    assert not any(isinstance(m, PromptMapping) for m in net.modules())
    randomise_prompts(net)
    x = torch.rand(2, 3, 16, 16)
    e1, e2 = torch.randn(2, EMBED), torch.randn(2, EMBED)
    assert not torch.allclose(run(net, x, e1), run(net, x, e2), atol=1e-5)
    with pytest.raises(ValueError, match="embedding"):
        net(x)


@pytest.mark.parametrize("insertion", ["concat", "attention"])
def test_untrained_concat_and_attention_are_the_identity_like_modulation(insertion):
    """The fusion's output layer starts at zero: every Table 4 insertion starts from the prompt-free model."""
    fused, plain = tiny(insertion=insertion), tiny(prompt_delta=False, prompt_B=False, prompt_C=False)
    plain.load_state_dict(fused.state_dict(), strict=False)
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(run(fused, x, torch.randn(1, EMBED)), run(plain, x))


@pytest.mark.parametrize("ablation", ["table4_concat", "table4_attention"])
def test_table4_insertions_are_capacity_matched_to_modulation(ablation):
    """Paper-size Table 4 rows: parameters and MACs (scan apart) within ±3 % of the modulated model's.
    MACs are measured at 32×32: every per-pixel term scales with H·W, the per-image prompt MLPs are < 0.1 %."""
    ours = build_network(_opt("ablation/table4_modulate.yml")["network_g"]).eval()
    other = build_network(_opt(f"ablation/{ablation}.yml")["network_g"]).eval()
    assert abs(count_params(other) / count_params(ours) - 1) <= 0.03
    x, emb = torch.rand(1, 3, 32, 32), torch.randn(1, 512)
    m_ours, m_other = count_macs(ours, x, embedding=emb), count_macs(other, x, embedding=emb)
    assert abs(m_other["total"] / m_ours["total"] - 1) <= 0.03 and m_other["total"] > m_ours["total"]
    assert m_other["scan"] == m_ours["scan"]


def test_narrow_fusion_width_is_an_option():
    assert count_params(tiny(insertion="concat", fusion_dim=4)) > count_params(tiny(insertion="concat", fusion_dim=2))
    with pytest.raises(ValueError, match="fusion_dim"):
        tiny(insertion="attention", fusion_dim=0)


def test_classes_mode_uses_task_labels():
    net = tiny(prompt_source="classes", num_tasks=7)
    randomise_prompts(net)
    x = torch.rand(2, 3, 16, 16)
    out0 = run(net, x, task=torch.tensor([0, 0]))
    out3 = run(net, x, task=torch.tensor([3, 3]))
    assert not torch.allclose(out0, out3, atol=1e-5)
    mixed = run(net, x, task=torch.tensor([0, 3]))
    torch.testing.assert_close(mixed[1], out3[1], rtol=1e-4, atol=1e-5)
    for bad in (None, torch.tensor([0]), torch.tensor([0.0, 1.0]), torch.tensor([0, 7])):
        with pytest.raises(ValueError, match="task"):
            net(x, task=bad)


def test_bidirectional_has_more_parameters():
    single, shared, branch = (count_params(tiny(scan=s)) for s in ("single", "bidirectional", "bidirectional_branch"))
    assert single < shared < branch
    layer = DPSSM(8, d_state=4, embed_dim=EMBED, scan="bidirectional")
    assert layer.backward_scan is not None and layer.backward_branch is None
    layer = DPSSM(8, d_state=4, embed_dim=EMBED, scan="bidirectional_branch")
    assert layer.backward_scan is None and layer.backward_branch.in_proj is not layer.in_proj
    x = torch.rand(2, 8, 5, 6)
    assert run(layer, x, torch.randn(2, EMBED)).shape == x.shape


@pytest.mark.parametrize("scan", ["single", "bidirectional", "bidirectional_branch"])
def test_bidirectional_scan_reads_the_sequence_backwards(scan):
    """Perturb the last token: a causal (single) scan leaves the first output untouched, the backward scan does not."""
    torch.manual_seed(0)
    layer = DPSSM(8, d_state=4, embed_dim=EMBED, scan=scan).double().eval()
    x = torch.rand(1, 8, 5, 6, dtype=torch.float64)
    emb = torch.randn(1, EMBED, dtype=torch.float64)
    x2 = x.clone()
    x2[..., -1, -1] += 1.0  # the last token in raster order (the 3x3 conv reaches only its neighbours)
    with torch.no_grad():
        first = (layer(x, emb)[..., 0, 0] - layer(x2, emb)[..., 0, 0]).abs().max().item()
        last = (layer(x, emb)[..., -1, -1] - layer(x2, emb)[..., -1, -1]).abs().max().item()
    assert last > 1e-3, "the perturbation must reach the output at all"
    if scan == "single":
        assert first == 0.0, f"a forward scan let the last token change the first output by {first}"
    else:
        assert first > 1e-6, (
            f"the reversed scan's first output ignores the last token (change {first}): no backward scan"
        )


def test_every_parameter_receives_a_gradient():
    """DDP (find_unused_parameters=False) needs every parameter in the graph, in every ablation."""
    for overrides in (
        {},
        dict(prompt_delta=False, prompt_B=False, prompt_C=False, heb=False),
        dict(prompt_source="classes"),
        dict(insertion="concat"),
        dict(insertion="attention"),
        dict(scan="bidirectional"),
        dict(scan="bidirectional_branch"),
    ):
        net = tiny(**overrides).train()
        x = torch.rand(2, 3, 8, 8)
        net(x, embedding=torch.randn(2, EMBED), task=torch.tensor([1, 2])).square().mean().backward()
        missing = [n for n, p in net.named_parameters() if p.grad is None]
        assert not missing, (overrides, missing[:3])


def test_scan_backends_agree_inside_the_layer():
    torch.manual_seed(0)
    layer = DPSSM(8, d_state=4, embed_dim=EMBED).double()
    x, emb = torch.rand(2, 8, 5, 7, dtype=torch.float64), torch.randn(2, EMBED, dtype=torch.float64)
    chunked = run(layer, x, emb)
    layer.scan_backend = "reference"
    torch.testing.assert_close(chunked, run(layer, x, emb))


# ----------------------------------------------------------------------------------------- HEB, block
def test_heb_is_identity_at_zero_and_enhances_otherwise():
    heb = HEB(4)
    assert heb.alpha.shape == (1, 4, 1, 1)
    x = torch.rand(2, 4, 6, 6)
    assert torch.equal(run(heb, x), x)
    with torch.no_grad():
        heb.alpha.fill_(0.5)
    out = run(heb, x)
    assert not torch.allclose(out, x)
    torch.testing.assert_close(out.mean(dim=(2, 3)), x.mean(dim=(2, 3)))  # the DC part is untouched


def test_heb_switch_removes_it():
    assert DPSSBlock(8, embed_dim=EMBED, heb=False).heb is None
    assert not any(isinstance(m, HEB) for m in tiny(heb=False).modules())
    assert isinstance(DPSSBlock(8, embed_dim=EMBED).heb, HEB)


# ----------------------------------------------------------------------------------------- extractor
def test_cdc_theta_zero_is_a_plain_conv_and_theta_one_ignores_constants():
    torch.manual_seed(0)
    cdc = CentralDifferenceConv2d(3, 5, theta=0.0)
    x = torch.rand(1, 3, 9, 9)
    plain = nn.functional.conv2d(nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), cdc.conv.weight, cdc.conv.bias)
    torch.testing.assert_close(run(cdc, x), plain)
    cdc.theta = 1.0
    const = torch.full((1, 3, 9, 9), 0.7)
    bias = cdc.conv.bias[None, :, None, None].expand(1, 5, 9, 9)
    torch.testing.assert_close(run(cdc, const), bias, rtol=0, atol=1e-6)
    with torch.no_grad():
        cdc.conv.bias.zero_()
    assert run(cdc, const).abs().max() < 1e-6


@pytest.mark.parametrize("version", ["normal", "large"])
def test_extractor_maps_any_size_to_the_embedding(version):
    torch.manual_seed(0)
    net = build_network(dict(type="DegradationExtractor", version=version, embed_dim=512)).eval()
    for size in ((33, 47), (1, 1), (64, 64)):
        assert run(net, torch.rand(2, 3, *size)).shape == (2, 512)
    x = torch.rand(3, 3, 24, 20)
    torch.testing.assert_close(run(net, x)[1:2], run(net, x[1:2]), rtol=1e-4, atol=1e-5)


def test_large_extractor_is_larger():
    normal = build_network(dict(type="DegradationExtractor", version="normal"))
    large = build_network(dict(type="DegradationExtractor", version="large"))
    assert count_params(large) > count_params(normal)


def test_reconstructor_is_conditioned_on_the_embedding():
    torch.manual_seed(0)
    net = build_network(dict(type="DegradationReconstructor", embed_dim=EMBED, width=8, num_blocks=1)).eval()
    clean = torch.rand(2, 3, 13, 18)
    assert run(net, clean, torch.randn(2, EMBED)).shape == clean.shape
    for m in net.modules():  # FiLM starts unconditioned; give it trained-like weights
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.1)
    assert not torch.allclose(run(net, clean, torch.randn(2, EMBED)), run(net, clean, torch.randn(2, EMBED)))
    with pytest.raises(ValueError, match="embedding"):
        net(clean, torch.randn(2, 7))


# ----------------------------------------------------------------------------------------- input checks
def test_bad_shapes_raise_value_errors_naming_the_argument():
    layer = DPSSM(8, d_state=4, embed_dim=EMBED)
    with pytest.raises(ValueError, match=r"'x' must have shape \(b, 8, H, W\)"):
        layer(torch.rand(8, 5, 5), torch.randn(1, EMBED))
    with pytest.raises(ValueError, match="'x'"):
        layer(torch.rand(1, 6, 5, 5), torch.randn(1, EMBED))
    with pytest.raises(ValueError, match=r"'embedding'.*\(1, 32\)"):
        layer(torch.rand(1, 8, 5, 5), torch.randn(1, 16))
    with pytest.raises(ValueError, match="'embedding'"):
        layer(torch.rand(1, 8, 5, 5), None)
    net = tiny()
    with pytest.raises(ValueError, match="'x'"):
        net(torch.rand(1, 1, 8, 8), torch.randn(1, EMBED))
    with pytest.raises(ValueError, match="'x'"):
        net(torch.rand(3, 8, 8), torch.randn(1, EMBED))
    with pytest.raises(ValueError, match=r"'embedding'.*\(2, 32\)"):
        net(torch.rand(2, 3, 8, 8), torch.randn(1, EMBED))
    with pytest.raises(ValueError, match="'embedding'"):
        net(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="'scan'"):
        DPSSM(8, scan="four-way")
    with pytest.raises(ValueError, match="'version'"):
        build_network(dict(type="DegradationExtractor", version="huge"))


def test_zero_output_init_starts_as_the_identity_and_still_learns():
    net = tiny(output_init="zero")
    x = torch.rand(2, 3, 13, 18)
    torch.testing.assert_close(run(net, x, torch.randn(2, EMBED)), x)
    # the output conv gets a gradient at once, so training moves it off the identity
    net.train()
    net(x, torch.randn(2, EMBED)).sub(torch.rand_like(x)).abs().mean().backward()
    assert net.output.weight.grad.abs().sum() > 0
    assert not torch.allclose(run(tiny(), x, torch.randn(2, EMBED)), x)  # the default init is not the identity


def test_width_override_shrinks_the_extractor():
    small = build_network({"type": "DegradationExtractor", "version": "normal", "width": 8})
    normal = build_network({"type": "DegradationExtractor", "version": "normal"})
    assert count_params(small) < count_params(normal)
    assert small(torch.rand(1, 3, 24, 24)).shape == (1, 512)
    with pytest.raises(ValueError, match="width"):
        build_network({"type": "DegradationExtractor", "width": 0})
    with pytest.raises(ValueError, match="output_init"):
        tiny(output_init="ones")
