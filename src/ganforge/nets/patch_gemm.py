"""EXPERIMENT, not adopted (docs/performance.md, "Tried and not adopted"): bf16 conv weight gradients as one GEMM.

Found by timing each pass of dcgan-fmnist's convolutions alone: in bf16, oneDNN's forward
and input-gradient kernels run at 0.8-1.0 of the bf16 matmul peak, but its weight-gradient
kernel reaches only about half of it, no faster than in fp32. The weight gradient is a plain
GEMM once the patches are laid out as a matrix: for a conv, ``dW = dY^T @ patches(X)``.
With channels_last tensors the patch matrix is a strided view of the padded input, copied
once. The forward and the input gradient stay oneDNN's.

``PatchGemmConv2d`` and ``PatchGemmConvTranspose2d`` compute exactly their torch parent's
function (same parameters, same state dict); they take this path only under CPU bf16
autocast while the weight needs a gradient. ``bench/ab_patch_gemm.py`` measures them.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _patches(t: torch.Tensor, out_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[int, int]) -> torch.Tensor:
    """The (B*OH*OW, KH*KW*C) matrix of ``t``'s (B, C, H, W) patches, each patch in (kh, kw, c) order."""
    (oh, ow), (kh, kw), (sh, sw), (ph, pw) = out_hw, kernel, stride, padding
    after_h = (oh - 1) * sh + kh - t.shape[2] - ph
    after_w = (ow - 1) * sw + kw - t.shape[3] - pw
    nhwc = F.pad(t.permute(0, 2, 3, 1), (0, 0, pw, after_w, ph, after_h)).contiguous()
    b, _, _, c = nhwc.shape
    s_b, s_h, s_w, _ = nhwc.stride()
    view = nhwc.as_strided((b, oh, ow, kh, kw, c), (s_b, sh * s_h, sw * s_w, s_h, s_w, 1))
    return view.reshape(b * oh * ow, kh * kw * c)


def _rows(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B*H*W, C): a view for channels_last tensors."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def weight_grad(x: torch.Tensor, grad_out: torch.Tensor, weight_shape: torch.Size, stride: tuple[int, int],
                padding: tuple[int, int], transposed: bool) -> torch.Tensor:
    """The gradient of a conv's weight (groups 1, dilation 1) as one GEMM over patches.

    A transposed conv is a conv with the roles of X and dY swapped; its weight is (in, out, kh, kw).
    """
    kernel = (weight_shape[2], weight_shape[3])
    rows, source = (x, grad_out) if transposed else (grad_out, x)
    gw = _rows(rows).t().contiguous() @ _patches(source, rows.shape[2:], kernel, stride, padding)
    return gw.view(rows.shape[1], kernel[0], kernel[1], source.shape[1]).permute(0, 3, 1, 2)


class _PatchGemmConv(torch.autograd.Function):
    """conv2d / conv_transpose2d whose backward takes the input gradient from oneDNN and the weight's from a GEMM."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, transposed):  # noqa: D102
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, padding, output_padding, transposed)
        ctx.has_bias = bias is not None
        if transposed:
            return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        x, weight = ctx.saved_tensors
        stride, padding, output_padding, transposed = ctx.conv
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = torch.ops.aten.convolution_backward(grad_out, x, weight, None, stride, padding, (1, 1), transposed,
                                                     output_padding, 1, (True, False, False))[0]
        if ctx.needs_input_grad[1]:
            gw = weight_grad(x, grad_out, weight.shape, stride, padding, transposed)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad_out.sum((0, 2, 3))
        return gx, gw, gb, None, None, None, None


def _takes_gemm_path(layer: nn.Conv2d | nn.ConvTranspose2d, x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16
            and torch.is_grad_enabled() and layer.weight.requires_grad
            and layer.groups == 1 and layer.dilation == (1, 1) and layer.padding_mode == "zeros"
            and isinstance(layer.padding, tuple) and x.dim() == 4)


def _bf16(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.to(torch.bfloat16)


class PatchGemmConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose weight gradient under CPU bf16 autocast is one GEMM over patches."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _takes_gemm_path(self, x):
            return super().forward(x)
        return _PatchGemmConv.apply(_bf16(x), _bf16(self.weight), _bf16(self.bias), self.stride, self.padding,
                                    (0, 0), False)


class PatchGemmConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` whose weight gradient under CPU bf16 autocast is one GEMM over patches."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or not _takes_gemm_path(self, x):
            return super().forward(x, output_size)
        return _PatchGemmConv.apply(_bf16(x), _bf16(self.weight), _bf16(self.bias), self.stride, self.padding,
                                    self.output_padding, True)
