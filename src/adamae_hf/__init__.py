"""adamae-hf: AdaMAE (adaptive masking for video masked autoencoders, CVPR'23) as transformers models.

Importing the package registers `model_type="adamae"` with transformers' Auto classes:
`AutoConfig`, `AutoModel`, `AutoModelForPreTraining`, `AutoModelForVideoClassification` and `AutoVideoProcessor`
([`AdaMAEVideoProcessor`]).
"""

import transformers

from . import modeling_adamae
from .configuration_adamae import AdaMAEConfig
from .data.processor import AdaMAEVideoProcessor, register_video_processor
from .modeling_adamae import (
    AUTO_CLASSES,
    AdaMAEForPreTraining,
    AdaMAEForPreTrainingOutput,
    AdaMAEForVideoClassification,
    AdaMAEModel,
    AdaMAEPreTrainedModel,
    AdaMAETokenSampler,
)


__version__ = "0.1.0"

# `save_pretrained` writes the modeling code and an `auto_map` beside the weights, so that a checkpoint also loads
# with `trust_remote_code=True` where this package is not installed.
transformers.AutoConfig.register("adamae", AdaMAEConfig, exist_ok=True)
AdaMAEConfig.register_for_auto_class()
for _auto_class, _name in AUTO_CLASSES.items():
    getattr(transformers, _auto_class).register(AdaMAEConfig, getattr(modeling_adamae, _name), exist_ok=True)
    getattr(modeling_adamae, _name).register_for_auto_class(_auto_class)
register_video_processor()  # AutoVideoProcessor and the video-classification pipeline find AdaMAEVideoProcessor

__all__ = [
    "AdaMAEConfig",
    "AdaMAEForPreTraining",
    "AdaMAEForPreTrainingOutput",
    "AdaMAEForVideoClassification",
    "AdaMAEModel",
    "AdaMAEPreTrainedModel",
    "AdaMAETokenSampler",
    "AdaMAEVideoProcessor",
]
