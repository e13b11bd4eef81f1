"""Tables from the sweep's JSON lines: python benchmarks/finetune_sweep/summarize.py results/*.jsonl > out.md"""

import json
import re
import statistics
import sys
from collections import defaultdict


runs = [json.loads(line) for path in sys.argv[1:] for line in open(path) if line.strip()]
print(
    "| run | object radius | pre-training | fine-tuning steps x batch, lr | top-1 % | top-1 every 256 steps | "
    "object-mass ratio after pre-training |"
)
print("|---|---|---|---|---|---|---|")
for r in sorted(runs, key=lambda r: r["name"]):
    radius = {"S": "13-17 %", "M": "18-22 %", "B": "22-28 %"}[r["name"][0] if r["name"][0] in "MB" else "S"]
    pre = f"{r['pt_steps']} steps {r['mask_type']}" if r["pt_steps"] else "none"
    if r.get("dec_ratio"):
        pre += f", decoder masking {r['dec_ratio']:.0%}"
    mass = f"{r['focus_object_mass_ratio']:.2f}" if "focus_object_mass_ratio" in r else "-"
    curve = ", ".join(f"{c[2] * 100:.0f}" for c in r["curve"])
    print(
        f"| {r['name']} | {radius} | {pre} | {r['ft_steps']} x {r['ft_batch']}, {r['ft_lr']:g} | {r['top1'] * 100:.1f} | "
        f"{curve} | {mass} |"
    )
groups = defaultdict(list)
for r in runs:
    match = re.fullmatch(r"M_(\w+?)_s\d", r["name"])
    if match:
        groups[match.group(1)].append(r)
print(
    "\nThe mini-ablation inside it (object radius 18-22 %, 256 pre-training steps, 1500 fine-tuning steps of 16 "
    "clips at lr 3e-4, seeds 0 1 2):\n"
)
print("| arm | top-1 % mean ± std | per seed | object-mass ratio |")
print("|---|---|---|---|")
for arm, rs in groups.items():
    rs.sort(key=lambda r: r["seed"])
    tops = [r["top1"] * 100 for r in rs]
    std = statistics.stdev(tops) if len(tops) > 1 else 0.0
    masses = [r["focus_object_mass_ratio"] for r in rs if "focus_object_mass_ratio" in r]
    mass = f"{statistics.fmean(masses):.2f}" if masses else "-"
    print(
        f"| {arm} | {statistics.fmean(tops):.1f} ± {std:.1f} | {', '.join(f'{t:.1f}' for t in tops)} | {mass} |"
    )
