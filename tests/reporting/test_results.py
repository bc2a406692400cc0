"""Recognising result files and parsing gate values: plain unit tests (no export, no bench)."""

from __future__ import annotations

import json

import pytest

from bnn_deploy.core.errors import BnnDeployError


def test_parse_percent():
    from bnn_deploy.core.values import parse_percent

    assert parse_percent("5%", "--x") == pytest.approx(0.05) and parse_percent(" 12.5 % ", "--x") == 0.125
    for bad in ("5", "0.05", "five%", "-5%", ""):
        with pytest.raises(BnnDeployError, match="is not a percentage"):
            parse_percent(bad, "--x")


def test_kinds_are_recognised_by_name_or_by_shape():
    from bnn_deploy.reporting.results import kind_of

    assert kind_of({"format": "bnn-deploy-bench", "schema_version": 2}) == "bench"
    assert kind_of({"format": "bnn-deploy-eval", "schema_version": 2}) == "eval"
    assert kind_of({"results": [], "speedups": [], "host": {}}) == "bench"  # version 1: no name
    assert kind_of({"models": [], "protocol": "Y"}) == "eval"
    assert kind_of({"predictions": [], "label": "predicted"}) == "predict"
    assert kind_of({"profiles": []}) == "profile"
    assert kind_of({"artifact": "a.tflite", "ops": [], "whole_ms": 1.0}) == "profile"
    for other in ({"format": "bnn-deploy-export"}, {"traceEvents": []}, [1], "x", {}):
        assert kind_of(other) is None


def test_what_a_non_result_is_called():
    from bnn_deploy.reporting.results import describe_json

    assert describe_json({"format": "bnn-deploy-export"}).startswith("an export manifest")
    assert describe_json({"traceEvents": []}).startswith("a Chrome trace")
    assert describe_json([{"ph": "X"}]).startswith("a Chrome trace")
    assert describe_json([1, 2, 3]) == "a JSON list of 3 items"
    assert describe_json({"b": 1, "a": 2}) == "a JSON object with keys a, b"
    assert describe_json({}) == "an empty JSON object"
    assert describe_json(4) == "a JSON int (4)"


def test_read_result_checks_version_and_kind(tmp_path):
    from bnn_deploy.reporting.results import read_result

    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": "bnn-deploy-bench", "schema_version": 9, "results": []}))
    with pytest.raises(BnnDeployError, match="newer than this bnn-deploy reads"):
        read_result(path)
    path.write_text(json.dumps({"format": "bnn-deploy-bench", "schema_version": "2", "results": []}))
    with pytest.raises(BnnDeployError, match="is not an integer"):
        read_result(path)
    path.write_text(json.dumps({"predictions": []}))
    with pytest.raises(BnnDeployError, match="is a predict result; pass a bench"):
        read_result(path, ("bench", "eval"))
    path.write_text(json.dumps({"artifact": "a.tflite", "ops": [], "whole_ms": 1.0}))
    result = read_result(path)
    assert result.kind == "profile" and result.data["profiles"][0]["artifact"] == "a.tflite"
