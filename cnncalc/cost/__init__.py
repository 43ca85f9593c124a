"""The cost wing: cost measures per layer (MACs, bytes, alpha-FLOPs), the fitted time models of a
device profile, and scoring measures against measured timings."""

from .context import Band, ContextModel, Prediction
from .measures import PAPER_CONSTANTS, LayerCost, alpha, costs, layer_bytes, work_alpha_flops
from .models import (
    BytesTimeModel,
    ConvTimeModel,
    DeviceProfile,
    conv_features,
    load_profile,
    predict_seconds,
    predict_time,
    predicted_ms,
)

__all__ = ["PAPER_CONSTANTS", "Band", "BytesTimeModel", "ContextModel", "ConvTimeModel",
           "DeviceProfile", "LayerCost", "Prediction", "alpha", "conv_features", "costs",
           "layer_bytes", "load_profile", "predict_seconds", "predict_time", "predicted_ms",
           "work_alpha_flops"]
