"""Worker of tests/test_fsdp.py, run by `torchrun --nproc_per_node 2` on CPU (gloo): AdaMAE sharded with torch's
FSDP2 (`fully_shard`, one unit per AdaMAELayer, as configs/accelerate/fsdp_bf16.yaml asks of accelerate), fused
AdamW from `build_adamw`, 4 steps with different clips and masks per rank; a sharded checkpoint
(torch.distributed.checkpoint) after step 2. With `--resume` it loads that checkpoint and runs steps 3-4 only.
Writes the full (unsharded) weights and the losses of this rank to `<out>/<run|resumed>_<rank>.pt`.

Usage: torchrun --nproc_per_node 2 tests/fsdp_worker.py OUT_DIR [--resume]
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining
from adamae_hf.modeling_adamae import AdaMAELayer
from adamae_hf.optimization import build_adamw


TINY = dict(
    image_size=32, patch_size=8, num_frames=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=64, decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
    decoder_intermediate_size=64, sampler_num_attention_heads=2, mask_ratio=0.75, decoder_mask_ratio=0.5,
)  # fmt: skip
STEPS, CHECKPOINT_AFTER = 4, 2


def main(out: str, resume: bool) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    torch.manual_seed(0)
    model = AdaMAEForPreTraining(AdaMAEConfig(**TINY)).train()
    for module in model.modules():
        if isinstance(module, AdaMAELayer):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    optimizer = build_adamw(model, 1e-3, 0.05)
    data = torch.Generator().manual_seed(100 + rank)  # different clips per rank
    clips = [torch.randn((2, 4, 3, 32, 32), generator=data) for _ in range(STEPS)]
    start = 0
    if resume:
        model_state, optimizer_state = get_state_dict(model, optimizer)
        state = {"model": model_state, "optimizer": optimizer_state}
        dcp.load(state, checkpoint_id=f"{out}/step_{CHECKPOINT_AFTER}")
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
        start = CHECKPOINT_AFTER
    losses = []
    for step in range(start, STEPS):
        torch.manual_seed(1000 * step + rank)  # masks differ per rank and are replayed on resume
        loss = model(clips[step]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step + 1 == CHECKPOINT_AFTER and not resume:
            model_state, optimizer_state = get_state_dict(model, optimizer)
            dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=f"{out}/step_{CHECKPOINT_AFTER}")
    sharded = type(next(model.parameters())).__name__
    weights = {name: tensor.full_tensor() for name, tensor in model.state_dict().items()}
    torch.manual_seed(0)
    initial = AdaMAEForPreTraining(AdaMAEConfig(**TINY)).state_dict()
    moved = max((weights[name] - initial[name]).abs().max().item() for name in weights)
    torch.save({"weights": weights, "losses": losses, "parameter_type": sharded, "moved": moved}, f"{out}/{'resumed' if resume else 'run'}_{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], "--resume" in sys.argv[2:])
