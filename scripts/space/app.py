"""Hugging Face Space entry point: the adamae-hf sampler app (`adamae_hf.app`).

The Space's default checkpoint is the `ADAMAE_APP_CHECKPOINT` variable (a Hub id), set in the Space's settings.
"""

from adamae_hf.app import build_demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch()
