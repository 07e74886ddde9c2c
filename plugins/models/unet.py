"""A small conditional U-Net: the denoiser of the ``diffusion`` model.

``CondUNet(x [B, C, H, W], t [B], factors [B, F], drop [B] bool or None) -> [B, C, H, W]``:
the noisy images, the noise level ``t`` in [0, 1] (the model maps its timesteps there),
the factors (encoded by its ``code``), and which rows are asked *unconditionally* (classifier-free
guidance: those rows use a learned null embedding in place of their condition).

Layout (``L = len(channel_mults)`` resolution levels, widths ``channels * m``)::

    pixel_unshuffle(patch_size) -> conv 3x3 -> [ResBlock -> stride-2 conv] x (L-1)
    -> ResBlock -> mid ResBlock -> [nearest x2 (cropped to the skip) -> conv 3x3
    -> concat skip -> ResBlock] x (L-1) -> concat skip -> ResBlock
    -> GroupNorm, SiLU, conv 3x3 -> pixel_shuffle(patch_size)

Every residual block is GroupNorm, SiLU, conv 3x3, + (time + condition) embedding, GroupNorm,
SiLU, conv 3x3, plus a (1x1 when the width changes) skip; its last convolution starts at zero,
so every block starts as the identity. The time embedding is sinusoidal (of ``1000 t``)
through a 2-layer MLP; the condition goes through its own 2-layer MLP; their sum (after a
SiLU) enters every block. There is no batch-dependent operation (no BatchNorm, no attention
across rows): each row of the output depends on its own inputs alone.

Sizes: the image is zero-padded to a multiple of ``patch_size`` and folded into
``patch_size**2`` times as many channels (so the first level runs at half resolution with the
default ``patch_size = 2``: the cost that matters on a CPU), each stride-2 convolution rounds
up (28 -> 14 -> 7 -> 4) and each upsampling is cropped to the skip's size, so every
``H, W >= 8`` works; the output is cropped back to ``H x W``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _groups(width: int) -> int:
    """GroupNorm groups for ``width`` channels: the largest of 8, 4, 2, 1 dividing it."""
    return next(g for g in (8, 4, 2, 1) if width % g == 0)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding ``[B, dim]`` of ``1000 t`` (``t [B]`` in [0, 1]), frequencies
    from 1 down to 1/10000 as in the transformer and DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device,
                                                        dtype=torch.float32) / max(half, 1))
    args = (1000.0 * t.float())[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv 3x3, + embedding, GroupNorm, SiLU, conv 3x3 (zero-initialised),
    plus a skip (1x1 convolution when ``c_in != c_out``)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip: nn.Module = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


def upsample_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour upsampling by 2, cropped to ``size (h, w)``: the inverse of a
    stride-2 convolution that rounded up. Written as an expand (its backward is a plain sum,
    deterministic on CUDA too)."""
    b, c, h, w = x.shape
    up = x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)
    return up[:, :, :size[0], :size[1]]


class CondUNet(nn.Module):
    """The conditional U-Net (see the module docstring).

    Args:
        image_channels: ``C`` of the images.
        code: the factors' encoding (a module ``[N, F] -> [N, E]`` with a ``width`` E, the
            :class:`~zsbench_plugins.models._conditional.FactorCode`); ``forward`` takes the
            factors themselves.
        channels: base width; level ``i`` has ``channels * channel_mults[i]`` channels.
        channel_mults: one multiplier per resolution level (2 or 3 levels are typical).
        patch_size: pixels folded into channels before the first level (1: none).
    """

    def __init__(self, image_channels: int, code: nn.Module, *, channels: int = 32,
                 channel_mults: Sequence[int] = (1, 2, 2), patch_size: int = 2) -> None:
        super().__init__()
        self.code = code  # buffers only: building it draws nothing from the RNG
        cond_dim = int(code.width)  # type: ignore[arg-type]
        self.patch_size = int(patch_size)
        self.channels = int(channels)
        widths = [int(channels) * int(m) for m in channel_mults]
        self.levels = len(widths)
        emb_dim = 4 * int(channels)
        folded = int(image_channels) * self.patch_size ** 2
        self.time_mlp = nn.Sequential(nn.Linear(self.channels, emb_dim), nn.SiLU(),
                                      nn.Linear(emb_dim, emb_dim))
        self.cond_mlp = nn.Sequential(nn.Linear(int(cond_dim), emb_dim), nn.SiLU(),
                                      nn.Linear(emb_dim, emb_dim))
        self.null_cond = nn.Parameter(torch.zeros(emb_dim))
        self.conv_in = nn.Conv2d(folded, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        prev = widths[0]
        for i, width in enumerate(widths):
            self.down.append(ResBlock(prev, width, emb_dim))
            prev = width
            if i < self.levels - 1:
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        self.mid = ResBlock(prev, prev, emb_dim)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(self.levels)):
            if i < self.levels - 1:
                self.upsample.append(nn.Conv2d(prev, widths[i], 3, padding=1))
                prev = widths[i]
            self.up.append(ResBlock(prev + widths[i], widths[i], emb_dim))
            prev = widths[i]
        self.norm_out = nn.GroupNorm(_groups(widths[0]), widths[0])
        self.conv_out = nn.Conv2d(widths[0], folded, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, factors: torch.Tensor,
                drop: torch.Tensor | None = None) -> torch.Tensor:
        """The prediction ``[B, C, H, W]`` for noisy images ``x [B, C, H, W]`` at noise
        levels ``t [B]`` given ``factors [B, F]``; rows where ``drop [B]`` is True get the
        learned null condition instead (classifier-free guidance)."""
        _, _, height, width = x.shape
        p = self.patch_size
        pad_h, pad_w = (-height) % p, (-width) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        if p > 1:
            x = F.pixel_unshuffle(x, p)
        c = self.cond_mlp(self.code(factors))
        if drop is not None:
            c = torch.where(drop[:, None], self.null_cond[None, :].to(c.dtype), c)
        emb = F.silu(self.time_mlp(timestep_embedding(t, self.channels)) + c)
        h = self.conv_in(x)
        skips = []
        for i in range(self.levels):
            h = self.down[i](h, emb)
            skips.append(h)
            if i < self.levels - 1:
                h = self.downsample[i](h)
        h = self.mid(h, emb)
        for j, i in enumerate(reversed(range(self.levels))):
            if i < self.levels - 1:
                h = self.upsample[j - 1](upsample_to(h, skips[i].shape[-2:]))
            h = self.up[j](torch.cat([h, skips[i]], dim=1), emb)
        h = self.conv_out(F.silu(self.norm_out(h)))
        if p > 1:
            h = F.pixel_shuffle(h, p)
        return h[:, :, :height, :width]
