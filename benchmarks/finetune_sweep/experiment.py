"""One exploratory experiment of the fine-tuning sweep (see run.sh): optional AdaMAE pre-training, then fine-tuning,
on in-memory synthetic clips (no crop augmentation, no gradient clipping); prints one JSON line with top-1 on the
256 validation clips, the learning curve (step, mean loss, top-1 every --eval_every steps) and, after adaptive
pre-training, the sampler-focus metrics."""

import argparse
import json
import time

import numpy as np
import torch
from transformers import get_cosine_schedule_with_warmup

from adamae_hf import AdaMAEForPreTraining, AdaMAEForVideoClassification
from adamae_hf.optimization import build_adamw
from adamae_hf.presets import preset_config
from adamae_hf.sampler_metrics import sampler_focus


p = argparse.ArgumentParser()
p.add_argument("--name", default="x")
p.add_argument("--data", required=True)
p.add_argument("--pt_steps", type=int, default=0)
p.add_argument("--pt_lr", type=float, default=1.5e-3)
p.add_argument("--pt_batch", type=int, default=16)
p.add_argument("--mask_type", default="adaptive")
p.add_argument("--mask_ratio", type=float, default=0.9)
p.add_argument("--dec_ratio", type=float, default=0.0)
p.add_argument("--ft_steps", type=int, default=1000)
p.add_argument("--ft_lr", type=float, default=5e-4)
p.add_argument("--ft_batch", type=int, default=8)
p.add_argument("--ft_wd", type=float, default=0.05)
p.add_argument("--warmup_frac", type=float, default=0.1)
p.add_argument("--layer_decay", type=float, default=1.0)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--cfg", default="{}")
p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
p.add_argument("--eval_every", type=int, default=0)
p.add_argument("--clip", type=float, default=0.0)
a = p.parse_args()
dev = torch.device(a.device)
torch.manual_seed(a.seed)
D = np.load(a.data)
Xtr, Ytr, Xva, Yva, Mva = D["Xtr"], D["Ytr"], D["Xva"], D["Yva"], D["Mva"]
mean = torch.tensor([0.485, 0.456, 0.406], device=dev)[None, None, :, None, None]
std = torch.tensor([0.229, 0.224, 0.225], device=dev)[None, None, :, None, None]
Xtr_t = torch.from_numpy(Xtr).to(dev)
Xva_t = torch.from_numpy(Xva).to(dev)
cfg = preset_config(
    "tiny",
    mask_type=a.mask_type,
    mask_ratio=a.mask_ratio,
    decoder_mask_ratio=a.dec_ratio,
    **json.loads(a.cfg),
)
T, stride = cfg.num_frames, 16 // cfg.num_frames
gen = torch.Generator(device="cpu").manual_seed(a.seed)


def pixels(X, idx, starts):
    fidx = starts[:, None] + torch.arange(T)[None] * stride
    c = X[idx.to(dev)[:, None], fidx.to(dev)].permute(0, 1, 4, 2, 3).float() / 255
    return (c - mean) / std


def batch(X, n, bs):
    return pixels(
        X, torch.randint(0, n, (bs,), generator=gen), torch.randint(0, stride, (bs,), generator=gen)
    )


res = {"name": a.name, **{k: v for k, v in vars(a).items() if k not in ("data", "device")}}
t0 = time.time()
init_state = None
if a.pt_steps:
    model = AdaMAEForPreTraining(cfg).to(dev)
    opt = build_adamw(model, a.pt_lr, 0.05, betas=(0.9, 0.95))
    sched = get_cosine_schedule_with_warmup(opt, max(1, a.pt_steps // 8), a.pt_steps)
    for _ in range(a.pt_steps):
        out = model(batch(Xtr_t, len(Xtr), a.pt_batch))
        out.loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    res["pt_rec_last"] = out.reconstruction_loss.item()
    nfoc = 64
    idx = torch.arange(nfoc)
    pv = pixels(Xva_t, idx, torch.zeros(nfoc, dtype=torch.long))
    fidx = torch.arange(T) * stride
    mv = torch.from_numpy(Mva[:nfoc][:, fidx.numpy()]).to(dev)
    if a.mask_type == "adaptive":
        f = sampler_focus(model, pv, mv)
        res.update({f"focus_{k}": float(v) for k, v in f.items()})
    init_state = {k: v for k, v in model.state_dict().items()}
    res["pt_time"] = time.time() - t0
clf = AdaMAEForVideoClassification(preset_config("tiny", num_labels=8, **json.loads(a.cfg))).to(dev)
if init_state is not None:
    missing, unexpected = clf.load_state_dict(
        {k: v for k, v in init_state.items() if k.startswith("adamae.")}, strict=False
    )
    res["missing"] = [m for m in missing if not m.startswith(("classifier", "fc_norm"))]
opt = build_adamw(clf, a.ft_lr, a.ft_wd, betas=(0.9, 0.999), layer_decay=a.layer_decay)
sched = get_cosine_schedule_with_warmup(opt, int(a.ft_steps * a.warmup_frac), a.ft_steps)
Ytr_t = torch.from_numpy(Ytr).to(dev)


def evaluate():
    clf.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(Xva), 64):
            idx = torch.arange(i, min(i + 64, len(Xva)))
            preds.append(
                clf(pixels(Xva_t, idx, torch.zeros(len(idx), dtype=torch.long))).logits.argmax(-1).cpu()
            )
    clf.train()
    pred = torch.cat(preds).numpy()
    return float((pred == Yva).mean()), [float((pred[Yva == k] == k).mean()) for k in range(8)]


curve = []
losses = []
t1 = time.time()
for step in range(1, a.ft_steps + 1):
    bidx = torch.randint(0, len(Xtr), (a.ft_batch,), generator=gen)
    x = pixels(Xtr_t, bidx, torch.randint(0, stride, (a.ft_batch,), generator=gen))
    out = clf(x, labels=Ytr_t[bidx.to(dev)])
    out.loss.backward()
    if a.clip:
        torch.nn.utils.clip_grad_norm_(clf.parameters(), a.clip)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    losses.append(out.loss.detach())
    if a.eval_every and step % a.eval_every == 0:
        curve.append((step, float(torch.stack(losses[-a.eval_every :]).mean()), evaluate()[0]))
res["top1"], res["per_class"] = evaluate()
res["ft_loss_last100"] = float(torch.stack(losses[-100:]).mean())
res["curve"] = curve
res["ft_time"] = time.time() - t1
print(json.dumps(res), flush=True)
