"""adamae-hf: AdaMAE (adaptive masking for video masked autoencoders, CVPR'23) as transformers models.

Importing the package registers `model_type="adamae"` with transformers' Auto classes:
`AutoConfig`, `AutoModel`, `AutoModelForPreTraining` and `AutoModelForVideoClassification`.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
)

from .configuration_adamae import AdaMAEConfig
from .modeling_adamae import (
    AdaMAEForPreTraining,
    AdaMAEForPreTrainingOutput,
    AdaMAEForVideoClassification,
    AdaMAEModel,
    AdaMAEPreTrainedModel,
    AdaMAETokenSampler,
)


__version__ = "0.1.0"

AutoConfig.register("adamae", AdaMAEConfig, exist_ok=True)
AutoModel.register(AdaMAEConfig, AdaMAEModel, exist_ok=True)
AutoModelForPreTraining.register(AdaMAEConfig, AdaMAEForPreTraining, exist_ok=True)
AutoModelForVideoClassification.register(AdaMAEConfig, AdaMAEForVideoClassification, exist_ok=True)

# `save_pretrained` writes the modeling code and an `auto_map` beside the weights, so that a checkpoint also loads
# with `trust_remote_code=True` where this package is not installed.
AdaMAEConfig.register_for_auto_class()
AdaMAEModel.register_for_auto_class("AutoModel")
AdaMAEForPreTraining.register_for_auto_class("AutoModelForPreTraining")
AdaMAEForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")

__all__ = [
    "AdaMAEConfig",
    "AdaMAEForPreTraining",
    "AdaMAEForPreTrainingOutput",
    "AdaMAEForVideoClassification",
    "AdaMAEModel",
    "AdaMAEPreTrainedModel",
    "AdaMAETokenSampler",
]
