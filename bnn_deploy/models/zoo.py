"""The bundled default models: small trained networks shipped inside the package.

They are produced by ``scripts/train_zoo.py`` (fixed seeds, CPU, photos from scikit-image's
wheel) and stored in bnn-deploy's self-describing checkpoint format. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"

# name -> (arch, config, description). The two binary models and their float reference share
# width and depth so their quality and cost compare like for like.
BUNDLED: dict[str, tuple[str, dict, str]] = {
    "bbcu_m_x2_small": (
        "bbcu_m",
        {"scale": 2, "num_feat": 32, "num_block": 4, "k": 65.0},
        "BBCU-M x2, 32 features, 4 blocks (the default model)",
    ),
    "attn_bbcu_m_x2_small": (
        "bbcu_m",
        {
            "scale": 2,
            "num_feat": 32,
            "num_block": 4,
            "k": 65.0,
            "unit": {"kind": "attention", "binary_attn": "se", "residual_attn": "spatial", "reduction": 4},
        },
        "attention-augmented BBCU-M x2 (SE on the binary branch, spatial "
        "attention on the residual), 32 features, 4 blocks",
    ),
    "msrresnet_x2_small": (
        "msrresnet",
        {"scale": 2, "num_feat": 32, "num_block": 4},
        "float MSRResNet x2, 32 features, 4 blocks (reference)",
    ),
}
DEFAULT_MODEL = "bbcu_m_x2_small"


def bundled_path(name: str = DEFAULT_MODEL) -> Path:
    """Path of a bundled model file (which may not exist before the zoo is trained)."""
    return ZOO_DIR / f"{name}.pt"


def bundled_models() -> list[dict]:
    """Name, description, path and presence of each bundled model."""
    return [
        {
            "name": name,
            "arch": arch,
            "config": config,
            "description": desc,
            "path": str(bundled_path(name)),
            "present": bundled_path(name).exists(),
            "default": name == DEFAULT_MODEL,
        }
        for name, (arch, config, desc) in BUNDLED.items()
    ]


def resolve_model_path(spec: str) -> str:
    """Accept a file path or the name of a bundled model (e.g. ``bbcu_m_x2_small``)."""
    if spec in BUNDLED and not Path(spec).exists():
        path = bundled_path(spec)
        if not path.exists():
            raise BnnDeployError(
                f"bundled model {spec} is not in this installation ({path}); "
                "reinstall bnn-deploy or run scripts/train_zoo.py"
            )
        return str(path)
    return spec
