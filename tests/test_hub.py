"""Model cards, the push path against a local recording endpoint, and loading pushed files (remote code, offline cache)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard, constants

import adamae_hf
from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining, AdaMAEModel
from adamae_hf.data import save_processor
from adamae_hf.hub import (
    PAPER_RESULTS,
    PAPER_VARIANTS,
    model_card_for_run,
    push_checkpoint_to_hub,
    render_model_card,
)


ROOT = Path(__file__).resolve().parents[1]
REPO_ID = "user/adamae-base-ssv2"
PUSHED_FILES = {"README.md", "config.json", "model.safetensors", "preprocessor_config.json", "video_preprocessor_config.json",
                "configuration_adamae.py", "modeling_adamae.py"}  # fmt: skip
TINY = dict(image_size=32, patch_size=8, num_frames=4, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=128, decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
            decoder_intermediate_size=64, sampler_num_attention_heads=2)  # fmt: skip


# ------------------------------------------------------------------ cards
@pytest.mark.parametrize("variant", sorted(PAPER_VARIANTS))
def test_paper_cards_parse_back_with_paper_results(variant):
    card = ModelCard(str(render_model_card(variant, repo_id=f"user/{variant}")))
    data = card.data
    assert (data.license, data.library_name) == ("mit", "transformers")
    assert "adamae" in data.tags and data.datasets
    info = PAPER_VARIANTS[variant]
    if info.finetuning is None:
        assert data.pipeline_tag is None and data.eval_results is None
        for pair in [(info.pretraining, "ssv2"), (info.pretraining, "k400")]:  # downstream results in the text
            assert f"{PAPER_RESULTS[pair][0]:.2f}" in card.text
    else:
        top1, top5, views, where = PAPER_RESULTS[(info.pretraining, info.finetuning)]
        assert data.pipeline_tag == "video-classification"
        results = {r.metric_type: r for r in data.eval_results}
        assert results["accuracy"].metric_value == top1 and results["top_5_accuracy"].metric_value == top5
        assert all("paper" in r.source_name and where in r.source_name and r.verified is False for r in results.values())
    assert f'from_pretrained("user/{variant}", trust_remote_code=True)' in card.text
    assert "Bandara" in card.text and "## Limitations" in card.text and "## Training recipe" in card.text


def test_rendered_cards_in_repository_are_current():
    for variant in PAPER_VARIANTS:
        assert (ROOT / "model_cards" / f"{variant}.md").read_text() == str(render_model_card(variant)), (
            "model_cards/ is stale: run `python scripts/push_to_hub.py --render_paper_cards model_cards`"
        )


def test_run_card_uses_run_arguments_and_measured_results():
    config = AdaMAEConfig(**TINY, num_labels=3, architectures=["AdaMAEForVideoClassification"])
    card = model_card_for_run(
        {"learning_rate": 0.00123, "num_train_epochs": 7, "output_dir": "runs/ft"},
        {"eval_top1": 41.5, "eval_top5": 88.25, "eval_loss": 1.9, "eval_runtime": 3.2},
        model_name="my-adamae", config=config.to_dict(), repo_id="user/my-adamae", dataset_name="UCF101",
        dataset_id="ucf101", base_model="user/adamae-base-ssv2",
    )  # fmt: skip
    parsed = ModelCard(str(card))
    assert parsed.data.pipeline_tag == "video-classification" and parsed.data.base_model == "user/adamae-base-ssv2"
    values = {r.metric_name: (r.metric_type, r.metric_value, r.source_name) for r in parsed.data.eval_results}
    assert values == {
        "eval_top1": ("accuracy", 41.5, None),
        "eval_top5": ("top_5_accuracy", 88.25, None),
        "eval_loss": ("loss", 1.9, None),
    }
    assert "Measured by this run's evaluation on UCF101" in card.text
    assert "| `learning_rate` | `0.00123` |" in card.text and "| `num_train_epochs` | `7` |" in card.text
    assert "eval_runtime" not in card.text and "70.04" not in card.text  # no throughput, no paper numbers

    pretraining = ModelCard(str(model_card_for_run({"epochs": 1}, None, model_name="pt", config=AdaMAEConfig(**TINY))))
    assert pretraining.data.pipeline_tag is None and "No evaluation was recorded" in pretraining.text


# ------------------------------------------------------------------ a local Hub endpoint that records requests
class RecordingHub:
    """Answers the calls of `create_repo`, `create_branch`, `validate-yaml`, `preupload` and `create_commit`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.files: dict[str, bytes] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                hub.requests.append({"method": "GET", "path": self.path})
                self._reply(404, {"error": "not served"})

            do_HEAD = do_GET

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path, _, query = self.path.partition("?")
                hub.requests.append({"method": "POST", "path": path, "query": query, "auth": self.headers.get("authorization")})
                if path == "/api/repos/create":
                    payload = json.loads(body)
                    hub.requests[-1]["json"] = payload
                    return self._reply(200, {"url": f"{hub.endpoint}/{payload['organization']}/{payload['name']}"})
                if path == "/api/validate-yaml":
                    return self._reply(200, {"errors": [], "warnings": []})
                if "/branch/" in path:
                    return self._reply(200, {})
                if "/preupload/" in path:
                    files = json.loads(body)["files"]
                    return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
                if "/commit/" in path:
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "header":
                            hub.requests[-1]["summary"] = item["value"]["summary"]
                        elif item["key"] == "file":
                            hub.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                        else:
                            raise AssertionError(f"unexpected commit entry {item['key']}")
                    return self._reply(200, {"commitUrl": f"{hub.endpoint}/{REPO_ID}/commit/{'a' * 40}", "commitOid": "a" * 40,
                                             "pullRequestUrl": f"{hub.endpoint}/{REPO_ID}/discussions/1"})  # fmt: skip
                return self._reply(404, {"error": f"unexpected {path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        """Paths of the POST calls; the only GET allowed is huggingface_hub's own agent-registry probe."""
        others = {r["path"] for r in self.requests if r["method"] != "POST"}
        assert others <= {"/api/agent-harnesses"}, others
        return [r["path"] for r in self.requests if r["method"] == "POST"]


@pytest.fixture
def hub(monkeypatch):
    server = RecordingHub()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", server.endpoint)  # huggingface_hub read HF_ENDPOINT at import
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    yield server
    server.server.shutdown()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny pre-training checkpoint saved as the training scripts do, plus training state that must stay local."""
    folder = tmp_path_factory.mktemp("run") / "final"
    torch.manual_seed(0)
    model = AdaMAEForPreTraining(AdaMAEConfig(**TINY))
    with torch.no_grad():
        model.token_sampler.position_embeddings.normal_()
    model.save_pretrained(folder)
    save_processor(folder, 32)
    render_model_card("adamae-base-ssv2", repo_id=REPO_ID).save(folder / "README.md")
    (folder / "optimizer.pt").write_bytes(b"state")
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "checkpoint-10").mkdir()
    pixel_values = torch.randn(1, 4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # what AutoModel gives in-process with the package: the encoder of the checkpoint
        expected = AdaMAEModel.from_pretrained(folder).eval()(pixel_values).last_hidden_state
    return folder, pixel_values, expected


def test_push_uploads_the_model_repository(hub, checkpoint):
    folder, _, _ = checkpoint
    url = push_checkpoint_to_hub(folder, REPO_ID, private=True, revision="v1", token="hf_test", commit_message="Add weights")
    assert url.endswith(f"/{REPO_ID}/commit/{'a' * 40}")
    assert hub.paths() == [
        "/api/repos/create",
        f"/api/models/{REPO_ID}/branch/v1",
        "/api/validate-yaml",
        f"/api/models/{REPO_ID}/preupload/v1",
        f"/api/models/{REPO_ID}/commit/v1",
    ]
    posts = [r for r in hub.requests if r["method"] == "POST"]
    assert posts[0]["json"]["visibility"] == "private" and posts[0]["json"]["name"] == "adamae-base-ssv2"
    assert all(r["auth"] == "Bearer hf_test" for r in posts)
    assert posts[-1]["summary"] == "Add weights"
    assert set(hub.files) == PUSHED_FILES
    for name, content in hub.files.items():
        assert content == (folder / name).read_bytes(), name
    assert set(json.loads(hub.files["config.json"])["auto_map"]) == {
        "AutoConfig", "AutoModel", "AutoModelForPreTraining", "AutoModelForVideoClassification"
    }  # fmt: skip


def test_push_generates_missing_card_and_processor_and_opens_pr(hub, checkpoint, tmp_path):
    folder, _, _ = checkpoint
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors", "configuration_adamae.py", "modeling_adamae.py"):
        (bare / name).write_bytes((folder / name).read_bytes())
    (bare / "training_args.json").write_text(json.dumps({"learning_rate": 0.0042, "epochs": 2}))
    (bare / "all_results.json").write_text(json.dumps({"train_loss": 0.75}))
    url = push_checkpoint_to_hub(bare, REPO_ID, token="hf_test", create_pr=True)
    assert url.endswith("/discussions/1") and hub.requests[-1]["query"] == "create_pr=1"
    assert set(hub.files) == {"README.md", "config.json", "model.safetensors", "configuration_adamae.py",
                              "modeling_adamae.py", "preprocessor_config.json", "video_preprocessor_config.json",
                              "all_results.json"}  # fmt: skip
    card = ModelCard(hub.files["README.md"].decode())
    assert "0.0042" in card.text and "0.75" in card.text and card.data.license == "mit"
    assert json.loads(hub.files["preprocessor_config.json"])["crop_size"] == {"height": 32, "width": 32}

    (bare / "modeling_adamae.py").unlink()
    with pytest.raises(ValueError, match="modeling code"):
        push_checkpoint_to_hub(bare, REPO_ID, token="hf_test")


# ------------------------------------------------------------------ loading what was pushed
LOAD_SCRIPT = """
import json, sys, torch
{block}
from transformers import AutoModel
model = AutoModel.from_pretrained({source!r}{kwargs})
pixel_values = torch.load({inputs!r})
with torch.no_grad():
    out = model(pixel_values).last_hidden_state
print(json.dumps({{"class": type(model).__module__ + "." + type(model).__name__, "out": out.flatten().tolist()}}))
"""
BLOCK_PACKAGE = "sys.modules['adamae_hf'] = None  # the package must not be importable"


def run_loader(tmp_path, source, pixel_values, *, with_package, env, trust_remote_code):
    """Load `source` with `AutoModel` in a fresh interpreter and return the class and encoder output."""
    torch.save(pixel_values, tmp_path / "inputs.pt")
    script = LOAD_SCRIPT.format(
        block="import adamae_hf" if with_package else BLOCK_PACKAGE, source=str(source), inputs=str(tmp_path / "inputs.pt"),
        kwargs=", trust_remote_code=True" if trust_remote_code else "",
    )  # fmt: skip
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_ENDPOINT")}
    full_env.update(env, HF_MODULES_CACHE=str(tmp_path / "modules"))
    if with_package:
        full_env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_hub_cache(cache: Path, files: dict[str, bytes], sha: str = "b" * 40) -> Path:
    """The layout `hf_hub_download` leaves: `models--user--name/{snapshots/<sha>/<files>, refs/main}`."""
    repo = cache / f"models--{REPO_ID.replace('/', '--')}"
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        (snapshot / name).write_bytes(content)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    return snapshot


def test_pushed_files_load_with_remote_code_and_offline_cache(hub, checkpoint, tmp_path):
    folder, pixel_values, expected = checkpoint
    push_checkpoint_to_hub(folder, REPO_ID, token="hf_test")
    cache = tmp_path / "hub-cache"
    build_hub_cache(cache, hub.files)
    offline = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}

    # Without the package: the uploaded modeling code, through trust_remote_code, from the offline cache.
    remote = run_loader(tmp_path, REPO_ID, pixel_values, with_package=False, env=offline, trust_remote_code=True)
    assert remote["class"].startswith("transformers_modules.") and remote["class"].endswith(".AdaMAEModel")
    torch.testing.assert_close(torch.tensor(remote["out"]), expected.flatten(), atol=1e-5, rtol=1e-4)

    # With the package: no trust_remote_code needed, same numbers.
    local = run_loader(tmp_path, REPO_ID, pixel_values, with_package=True, env=offline, trust_remote_code=False)
    assert local["class"] == "adamae_hf.modeling_adamae.AdaMAEModel"
    torch.testing.assert_close(torch.tensor(local["out"]), expected.flatten(), atol=1e-5, rtol=1e-4)
    assert adamae_hf.__name__ == "adamae_hf"


def closed_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "token, says",
    [(None, ["no Hugging Face token found", "hf auth login", "HF_TOKEN"]),
     ("hf_not_checked", ["cannot reach the Hub at http://127.0.0.1:", "Connection refused", "Check the network"])],
    ids=["no-token", "no-network"],
)  # fmt: skip
def test_push_without_token_or_network_says_what_to_do(checkpoint, tmp_path, token, says):
    """scripts/push_to_hub.py against a closed local port (no real network), with and without a token: a few lines
    saying what to do and how to push the unchanged folder later, exit code 1, no traceback."""
    folder, _, _ = checkpoint
    env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}", HF_HOME=str(tmp_path / "hf_home"),
               PYTHONPATH=str(ROOT / "src"), NO_PROXY="127.0.0.1")  # fmt: skip
    env.pop("HF_TOKEN", None)
    env.pop("HUGGING_FACE_HUB_TOKEN", None)
    if token:
        env["HF_TOKEN"] = token
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "push_to_hub.py"), "--folder", str(folder), "--repo_id", REPO_ID],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3, result.stderr
    for text in [*says, f"push it later with: python scripts/push_to_hub.py --folder {folder} --repo_id {REPO_ID}"]:
        assert text in result.stderr, result.stderr

def _metadata_ids(card_data) -> list[str]:
    ids = [card_data.base_model] if isinstance(card_data.base_model, str) else list(card_data.base_model or [])
    return ids + list(card_data.datasets or [])


def test_run_card_metadata_holds_only_hub_ids(tmp_path):
    """A run from a local checkpoint on a local dataset folder: the Hub rejects local paths in `base_model` /
    `datasets`; they go to the card's text."""
    from huggingface_hub.utils import validate_repo_id

    local_model, local_data = tmp_path / "outputs" / "adamae-pretrain", tmp_path / "data" / "ucf"
    local_model.mkdir(parents=True)
    local_data.mkdir(parents=True)
    card = model_card_for_run(
        {"learning_rate": 1e-3}, {"eval_top1": 50.0}, model_name="run", config={**TINY, "architectures": ["AdaMAEForVideoClassification"]},
        repo_id="user/run", base_model=str(local_model), dataset_name=str(local_data), dataset_id=str(local_data),
    )  # fmt: skip
    parsed = ModelCard(str(card))
    assert parsed.data.base_model is None and not parsed.data.datasets
    assert str(local_model) in parsed.text and str(local_data) in parsed.text
    assert "huggingface.co/" + str(local_model) not in parsed.text
    for result in parsed.data.eval_results:
        assert str(tmp_path) not in result.dataset_type and str(tmp_path) not in result.dataset_name
    # Hub ids stay in the metadata
    card = model_card_for_run({}, None, model_name="run", base_model="user/adamae-base", dataset_id="ucf101", dataset_name="UCF101")
    assert ModelCard(str(card)).data.base_model == "user/adamae-base" and ModelCard(str(card)).data.datasets == ["ucf101"]
    for name in _metadata_ids(ModelCard(str(card)).data):
        validate_repo_id(name)
    from adamae_hf.hub import hub_id

    assert hub_id("outputs/adamae-pretrain") == "outputs/adamae-pretrain"  # no such folder here: an id
    assert hub_id(str(local_model)) is None and hub_id("./model") is None and hub_id("a/b/c") is None


def test_repush_of_a_card_with_local_paths_sends_hub_ids_only(hub, checkpoint, tmp_path):
    import shutil

    folder, _, _ = checkpoint
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    card = ModelCard.load(copy / "README.md")
    card.data.base_model = "/home/me/outputs/adamae-pretrain"
    card.data.datasets = ["ucf101", "/data/my-videos"]
    card.save(copy / "README.md")
    push_checkpoint_to_hub(copy, REPO_ID, token="hf_test")
    pushed = ModelCard(hub.files["README.md"].decode())
    assert pushed.data.base_model is None and pushed.data.datasets == ["ucf101"]
    assert "/home/me/outputs/adamae-pretrain" in pushed.text and "/data/my-videos" in pushed.text
