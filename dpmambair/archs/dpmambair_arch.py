"""DPMambaIR: the U-shaped all-in-one restorer (paper section 3.3, Fig. 2; Restormer layout)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from dpmambair.utils.registry import ARCH_REGISTRY

from .common import ConditionedSequence, Downsample, Upsample, check_embedding, check_features, pad_to_multiple
from .dpss_block_arch import DPSSBlock

PROMPT_SOURCES = ("extractor", "classes")


@ARCH_REGISTRY.register()
class DPMambaIR(nn.Module):
    """3×3 conv → encoder levels 1–3 (dim, 2dim, 4dim; each followed by downsampling) → bottleneck (8dim)
    → decoder levels 3–1 (upsampling, concat with the encoder skip, 1×1 reduction at levels 3 and 2;
    level 1 stays at 2dim as in Restormer) → refinement (2dim) → 3×3 conv → + input.

    The degradation embedding D (b, embed_dim) comes from the external degradation extractor
    (`prompt_source="extractor"`), or from a learned table of task labels (`prompt_source="classes"`,
    the non-blind Table 4 row). Each image of a batch uses its own embedding. Any H, W: the input is
    reflect-padded to a multiple of 8 (three 2× downsamplings) and the output cropped back.

    The defaults are the paper's all-in-one model (options/allinone.yml): block counts, FFN expansion
    2.0 and prompt_hidden 32 were chosen (the paper is silent) so that it measures 30.0 M parameters
    and 148 GMACs at 1×3×256×256 with the scan excluded (paper: 29.35 M, 153.3 G).
    """

    def __init__(
        self,
        inp_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        ffn_expansion_factor: float = 2.0,
        d_state: int = 16,
        expand: float = 2,
        dt_rank: Union[int, str] = "auto",
        embed_dim: int = 512,
        prompt_delta: bool = True,
        prompt_B: bool = True,
        prompt_C: bool = True,
        heb: bool = True,
        scan: str = "single",
        insertion: str = "modulate",
        prompt_source: str = "extractor",
        num_tasks: int = 7,
        prompt_hidden: int = 32,
        scan_backend: str = "auto",
        output_init: str = "default",
        d_conv: int = 3,
        scan_chunk: Optional[int] = None,
        scan_segment: Optional[int] = None,
        fusion_dim: int = 8,
    ) -> None:
        super().__init__()
        if len(num_blocks) != 4 or not all(isinstance(n, int) and n >= 0 for n in num_blocks):
            raise ValueError(
                f"DPMambaIR: 'num_blocks' must be 4 non-negative ints (levels 1-3 and bottleneck), got {num_blocks!r}"
            )
        if prompt_source not in PROMPT_SOURCES:
            raise ValueError(
                f"DPMambaIR: 'prompt_source' must be one of {', '.join(PROMPT_SOURCES)}, got '{prompt_source}'"
            )
        if out_channels != inp_channels:
            raise ValueError(
                f"DPMambaIR: 'out_channels' ({out_channels}) must equal 'inp_channels' ({inp_channels}) "
                "for the global residual"
            )
        self.inp_channels, self.embed_dim = inp_channels, embed_dim
        self.prompt_source, self.num_tasks = prompt_source, num_tasks
        block_opts = dict(
            d_state=d_state,
            expand=expand,
            dt_rank=dt_rank,
            embed_dim=embed_dim,
            ffn_expansion_factor=ffn_expansion_factor,
            prompt_delta=prompt_delta,
            prompt_B=prompt_B,
            prompt_C=prompt_C,
            heb=heb,
            scan=scan,
            insertion=insertion,
            prompt_hidden=prompt_hidden,
            scan_backend=scan_backend,
            d_conv=d_conv,
            scan_chunk=scan_chunk,
            scan_segment=scan_segment,
            fusion_dim=fusion_dim,
        )

        def stage(channels: int, n: int) -> ConditionedSequence:
            return ConditionedSequence([DPSSBlock(channels, **block_opts) for _ in range(n)])

        self.patch_embed = nn.Conv2d(inp_channels, dim, 3, padding=1, bias=False)
        self.encoder_level1 = stage(dim, num_blocks[0])
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = stage(dim * 2, num_blocks[1])
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = stage(dim * 4, num_blocks[2])
        self.down3_4 = Downsample(dim * 4)
        self.latent = stage(dim * 8, num_blocks[3])
        self.up4_3 = Upsample(dim * 8)
        self.reduce_chan_level3 = nn.Conv2d(dim * 8, dim * 4, 1, bias=False)
        self.decoder_level3 = stage(dim * 4, num_blocks[2])
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, 1, bias=False)
        self.decoder_level2 = stage(dim * 2, num_blocks[1])
        self.up2_1 = Upsample(dim * 2)
        self.decoder_level1 = stage(dim * 2, num_blocks[0])
        self.refinement = stage(dim * 2, num_refinement_blocks)
        self.output = nn.Conv2d(dim * 2, out_channels, 3, padding=1, bias=False)
        if output_init not in ("default", "zero"):
            raise ValueError(f"DPMambaIR: 'output_init' must be 'default' or 'zero', got {output_init!r}")
        if output_init == "zero":  # starts as the identity map (global residual): short runs begin at the input's PSNR
            nn.init.zeros_(self.output.weight)

        # No prompt in use → no embedding table either (unused parameters would break DDP). The DP-SSM layers
        # decide whether the embedding is read; this network only collects their answer.
        self.uses_embedding = any(m.uses_embedding for m in self.modules() if isinstance(m, DPSSBlock))
        self.task_embedding = (
            nn.Embedding(num_tasks, embed_dim) if prompt_source == "classes" and self.uses_embedding else None
        )

    def _embedding(self, batch: int, embedding: Optional[Tensor], task: Optional[Tensor]) -> Optional[Tensor]:
        """The (b, embed_dim) degradation embedding the blocks use, or None when no prompt is in use."""
        if not self.uses_embedding:
            return None
        if self.task_embedding is not None:
            if (
                not isinstance(task, Tensor)
                or task.dim() != 1
                or task.shape[0] != batch
                or task.dtype not in (torch.int64, torch.int32)
            ):
                got = tuple(task.shape) if isinstance(task, Tensor) else type(task).__name__
                raise ValueError(
                    f"DPMambaIR: 'task' must be an int64 tensor of task labels with shape ({batch},), got {got}"
                )
            if task.numel() and (int(task.min()) < 0 or int(task.max()) >= self.num_tasks):
                raise ValueError(
                    f"DPMambaIR: 'task' labels must lie in [0, {self.num_tasks - 1}] (num_tasks={self.num_tasks})"
                )
            return self.task_embedding(task.long())
        check_embedding(embedding, batch, self.embed_dim, "DPMambaIR")
        return embedding

    def forward(self, x: Tensor, embedding: Optional[Tensor] = None, task: Optional[Tensor] = None) -> Tensor:
        """x (b, 3, H, W) degraded images → restored (b, 3, H, W).

        `embedding` (b, embed_dim) is read with prompt_source "extractor", `task` (b,) int64 labels with
        "classes"; the other one is ignored, and both may be None when no prompt is in use.
        """
        check_features(x, self.inp_channels, "DPMambaIR")
        emb = self._embedding(x.shape[0], embedding, task)
        inp, (h, w) = pad_to_multiple(x, 8)

        enc1 = self.encoder_level1(self.patch_embed(inp), emb)
        enc2 = self.encoder_level2(self.down1_2(enc1), emb)
        enc3 = self.encoder_level3(self.down2_3(enc2), emb)
        latent = self.latent(self.down3_4(enc3), emb)

        dec3 = self.reduce_chan_level3(torch.cat([self.up4_3(latent), enc3], dim=1))
        dec3 = self.decoder_level3(dec3, emb)
        dec2 = self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], dim=1))
        dec2 = self.decoder_level2(dec2, emb)
        dec1 = self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], dim=1), emb)
        out = self.output(self.refinement(dec1, emb)) + inp
        return out[:, :, :h, :w]

    def prompt_parameters(self) -> List[nn.Parameter]:
        """Parameters that exist only to read the degradation embedding (empty when no prompt is in use)."""
        keys = ("prompt_", "task_embedding")
        return [p for name, p in self.named_parameters() if any(k in name for k in keys)]
