"""Binary primitives and architectures: semantics, official layouts, and an independent forward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bnn_deploy.models.binary import BinaryConv2d, approx_sign_surrogate, binary_activation, deploy_sign
from bnn_deploy.models.registry import create_model, list_archs
from support.models import randomize_, tiny_model


def test_deploy_sign_maps_zero_to_plus_one():
    x = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0])
    assert deploy_sign(x).tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    assert torch.sign(x)[2] == 0  # the training-code convention we deliberately differ from


def test_binary_activation_gradient_is_bireal():
    x = torch.linspace(-1.5, 1.5, 31, requires_grad=True)
    binary_activation(x).sum().backward()
    expected = torch.where(x.abs() < 1, 2 - 2 * x.detach().abs(), torch.zeros_like(x))
    assert torch.allclose(x.grad, expected, atol=1e-6)
    assert torch.equal(binary_activation(x).detach(), deploy_sign(x.detach()))
    assert approx_sign_surrogate(torch.tensor([-2.0, 2.0])).tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("alpha", ["mean", "learned"])
def test_binary_weight_is_plus_minus_alpha_per_output_channel(alpha):
    conv = BinaryConv2d(4, 6, 3, alpha=alpha)
    with torch.no_grad():
        conv.weight.normal_()
        conv.weight[0, 0, 0, 0] = 0.0  # sign(0) must deploy as +alpha
    wb = conv.binary_weight()
    for o in range(6):
        mags = wb[o].abs().unique()
        assert mags.numel() == 1
        if alpha == "mean":
            assert torch.isclose(mags[0], conv.weight[o].abs().mean())
    assert wb[0, 0, 0, 0] > 0


def test_clipped_ste_blocks_gradient_outside_unit_interval():
    conv = BinaryConv2d(2, 2, 3).train()
    with torch.no_grad():
        conv.weight.copy_(torch.linspace(-2, 2, conv.weight.numel()).view_as(conv.weight))
    conv(torch.randn(1, 2, 5, 5)).sum().backward()
    outside = conv.weight.detach().abs() > 1
    assert torch.all(conv.weight.grad[outside] == 0)
    assert torch.any(conv.weight.grad[~outside] != 0)


def test_binary_conv_pads_zeros_after_the_sign():
    conv = BinaryConv2d(3, 5, 3).eval()
    x = deploy_sign(torch.randn(1, 3, 7, 6))
    manual = F.conv2d(F.pad(x, (1, 1, 1, 1), value=0.0), conv.binary_weight())
    assert torch.allclose(conv(x), manual, atol=1e-6)


# ---------------------------------------------------------------- an independent BBCU forward


def _unit(sd, p, x, kind="res"):
    """BBCU's BinaryConv2d written from the official formulas, straight from the state dict."""
    w = sd[f"{p}binary_conv.weight"]
    wb = w.abs().mean(dim=(1, 2, 3), keepdim=True) * torch.sign(w)
    s = torch.sign(x + sd[f"{p}move0.bias"])
    out = F.conv2d(s, wb, padding=1)
    out = out + sd[f"{p}relu.pr_bias0.bias"]
    out = F.prelu(out, sd[f"{p}relu.pr_prelu.weight"]) + sd[f"{p}relu.pr_bias1.bias"]
    return out + x if kind == "res" else out


def reference_bbcu(sd, variant, scale, k, num_block, x):
    x = x * k
    out = F.leaky_relu(F.conv2d(x, sd["conv_first.weight"], sd["conv_first.bias"], padding=1), 0.1)
    for i in range(num_block):
        for j in range(2):
            out = _unit(sd, f"body.{i}.body.{j}.", out)
    stages = [2, 2] if scale == 4 else [scale]
    for n, r in enumerate(stages, start=1):
        if variant == "L":
            up = F.conv2d(out, sd[f"upconv{n}.weight"], sd[f"upconv{n}.bias"], padding=1)
            out = F.leaky_relu(F.pixel_shuffle(up, r), 0.1)
        else:
            up = F.pixel_shuffle(_unit(sd, f"upconv{n}.", out, kind="plain"), r)
            out = up + F.interpolate(out, scale_factor=r, mode="nearest")
    if variant == "L":
        hr = F.conv2d(out, sd["conv_hr.weight"], sd["conv_hr.bias"], padding=1)
    else:
        hr = _unit(sd, "conv_hr.", out)
    out = F.conv2d(F.leaky_relu(hr, 0.1), sd["conv_last.weight"], sd["conv_last.bias"], padding=1)
    base = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    return (out + base) / k


@pytest.mark.parametrize("arch,variant", [("bbcu_l", "L"), ("bbcu_m", "M")])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bbcu_matches_the_official_formulas(arch, variant, scale, photo):
    model = tiny_model(arch, scale=scale, num_feat=8, num_block=2, k=130.0)
    x = torch.from_numpy(photo[:20, :17]).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        ours = model(x)
        ref = reference_bbcu(model.state_dict(), variant, scale, 130.0, 2, x)
    assert ours.shape == (1, 3, 20 * scale, 17 * scale)
    assert torch.allclose(ours, ref, atol=1e-5), (ours - ref).abs().max()


def test_official_bbcu_key_layout():
    sd_l = create_model("bbcu_l", scale=2).state_dict()
    sd_m = create_model("bbcu_m", scale=4).state_dict()
    assert sd_l["body.15.body.1.move0.bias"].shape == (1, 64, 1, 1)
    assert sd_l["body.15.body.1.relu.pr_prelu.weight"].shape == (64,)
    assert sd_l["body.0.body.0.binary_conv.weight"].shape == (64, 64, 3, 3)
    assert "body.0.body.0.binary_conv.bias" not in sd_l
    assert sd_l["upconv1.weight"].shape == (256, 64, 3, 3) and "upconv2.weight" not in sd_l
    assert {"conv_hr.weight", "conv_hr.bias", "conv_last.weight", "conv_first.weight"} <= set(sd_l)
    assert sd_m["upconv1.binary_conv.weight"].shape == (256, 64, 3, 3)
    assert sd_m["upconv2.relu.pr_bias0.bias"].shape == (1, 256, 1, 1)
    assert sd_m["conv_hr.move0.bias"].shape == (1, 64, 1, 1)
    assert not any(k.startswith("body.16.") for k in sd_m)
    body_keys = {k.split(".", 4)[-1] for k in sd_l if k.startswith("body.")}
    assert body_keys == {
        "move0.bias",
        "binary_conv.weight",
        "relu.pr_bias0.bias",
        "relu.pr_prelu.weight",
        "relu.pr_bias1.bias",
    }


def test_msrresnet_and_edsr_key_layouts():
    sd = create_model("msrresnet", scale=4).state_dict()
    assert {"body.15.conv1.weight", "body.15.conv2.weight", "upconv2.weight"} <= set(sd)
    sd = create_model("edsr", scale=4).state_dict()
    assert {
        "sub_mean.weight",
        "add_mean.bias",
        "head.0.weight",
        "body.0.body.0.weight",
        "body.0.body.2.weight",
        "body.16.weight",
        "tail.0.0.weight",
        "tail.0.2.weight",
        "tail.1.weight",
    } <= set(sd)
    sd = create_model("binary_edsr", scale=3, n_resblocks=2).state_dict()
    assert sd["tail.0.0.weight"].shape[0] == 64 * 9
    assert "body.2.binary_conv.weight" in sd and "body.1.body.1.move0.bias" in sd


def test_edsr_takes_unit_range_input_and_keeps_mean_shift_fixed(photo):
    model = create_model("edsr", scale=2, n_feats=8, n_resblocks=1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.zero_()  # body and tail output 0: the model is then add_mean(0)/255
    out = model(torch.rand(1, 3, 6, 6))
    mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)
    assert torch.allclose(out, mean.expand_as(out), atol=1e-6)
    assert not model.sub_mean.weight.requires_grad


@pytest.mark.parametrize("kind", ["se", "spatial", "pixel"])
def test_attention_masks_have_their_documented_shape(kind):
    from bnn_deploy.models.attention import make_attention

    module = randomize_(make_attention(kind, 8, reduction=4))
    x = torch.rand(2, 8, 5, 6) + 0.5
    mask = module(x) / x
    assert torch.all((mask > 0) & (mask < 1))
    if kind == "se":  # one weight per channel
        assert torch.allclose(mask, mask[:, :, :1, :1].expand_as(mask))
    elif kind == "spatial":  # one weight per pixel, shared across channels
        assert torch.allclose(mask, mask[:, :1].expand_as(mask))
    else:  # varies over channels and pixels
        assert not torch.allclose(mask, mask[:, :1].expand_as(mask))


def test_attention_unit_combines_branches_with_a1_a2():
    from bnn_deploy.models.units import AttentionBinaryUnit

    unit = randomize_(AttentionBinaryUnit(8, binary_attn="none", residual_attn="none"))
    x = torch.randn(1, 8, 5, 5)
    binary = unit.relu(unit.binary_conv(deploy_sign(unit.move0(x))))
    assert torch.allclose(unit(x), unit.a1 * binary + unit.a2 * x, atol=1e-6)
    assert unit.binary_conv.alpha_mode == "learned"


@pytest.mark.parametrize("arch", ["bbcu_l", "bbcu_m", "msrresnet", "edsr", "binary_edsr"])
def test_every_architecture_trains(arch):
    model = tiny_model(arch, scale=2).train()
    out = model(torch.rand(2, 3, 8, 8))
    F.l1_loss(out, torch.rand_like(out)).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert all(p.grad is not None for _, p in trainable), [n for n, p in trainable if p.grad is None]


def test_registry_lists_and_rejects():
    from bnn_deploy.core.errors import BnnDeployError

    assert {"bbcu_l", "bbcu_m", "msrresnet", "edsr", "binary_edsr"} <= set(list_archs())
    with pytest.raises(BnnDeployError, match="unknown architecture"):
        create_model("resnet50")
    with pytest.raises(BnnDeployError, match="scale must be 2, 3 or 4"):
        create_model("bbcu_m", scale=8)
    with pytest.raises(BnnDeployError, match="binary_attn"):
        create_model("bbcu_m", unit={"kind": "attention", "binary_attn": "cbam"})
