"""Cost by the BBCU paper's convention, checked against the published Table 1 (LR 320×180)."""

from __future__ import annotations

import pytest

from bnn_deploy.models.cost import conv_layers, paper_cost
from bnn_deploy.models.registry import create_model

# (arch, scale, published GOPs, published K params, our tolerance on OPs)
PUBLISHED = [
    ("bbcu_l", 2, 18.55, 225, 0.005),
    ("bbcu_l", 4, 79.20, 372, 0.005),
    ("bbcu_m", 4, 3.95, 51, 0.005),
    ("msrresnet", 2, 85.43, 1367, 0.005),
    ("bbcu_m", 2, 1.83, 46, 0.01),  # we count 1.825 G; the paper prints 1.83
]


@pytest.mark.parametrize("arch,scale,gops,kparams,rel", PUBLISHED)
def test_paper_table_reproduced(arch, scale, gops, kparams, rel):
    cost = paper_cost(conv_layers(create_model(arch, scale=scale), (180, 320)))
    assert cost["ops"] / 1e9 == pytest.approx(gops, rel=rel)
    assert round(cost["params"] / 1e3) == kparams


def test_binary_discount_and_layer_inventory():
    model = create_model("bbcu_m", scale=2, num_feat=16, num_block=2)
    layers = conv_layers(model, (10, 12))
    kinds = {layer["name"]: layer["kind"] for layer in layers}
    assert kinds["conv_first"] == "float" and kinds["conv_last"] == "float"
    assert kinds["upconv1.binary_conv"] == "binary" and kinds["conv_hr.binary_conv"] == "binary"
    assert sum(k == "binary" for k in kinds.values()) == 2 * 2 + 2
    up = next(layer for layer in layers if layer["name"] == "upconv1.binary_conv")
    assert up["output_hw"] == [10, 12] and up["macs"] == 10 * 12 * 64 * 16 * 9
    hr = next(layer for layer in layers if layer["name"] == "conv_hr.binary_conv")
    assert hr["output_hw"] == [20, 24]
    cost = paper_cost(layers)
    assert cost["ops"] == cost["float_macs"] + cost["binary_macs"] / 64
    assert cost["params"] == cost["float_params"] + cost["binary_params"] / 32


def test_attention_convs_count_as_float():
    model = create_model(
        "bbcu_m",
        scale=2,
        num_feat=16,
        num_block=1,
        unit={"kind": "attention", "binary_attn": "se", "residual_attn": "pixel"},
    )
    layers = conv_layers(model, (8, 8))
    se = [layer for layer in layers if ".attn_b.fc" in layer["name"]]
    assert se and all(layer["kind"] == "float" and layer["output_hw"] == [1, 1] for layer in se)
    assert any(".attn_r.conv" in layer["name"] for layer in layers)
