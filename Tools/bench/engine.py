#!/usr/bin/env python3
"""Engine speed: this project's engine next to PyTorch + Hugging Face transformers, same model, same
shapes, same thread count, in one run. Any model folder: GPT-2 (default: a random GPT-2 small) or the
Llama family (e.g. Models/smollm2-135m from Tools/fetch/smollm2.sh).

    python3 Tools/bench/engine.py [--threads 2] [--model Models/random-small] [--pairs 5] [--only NAME]
                                  [--env-kernels-too] [--also-env VAR=VALUE ...] [--isa native|avx2]
                                  [--also-bin LABEL=PATH ...]

Configurations: (1) forward with loss, no grad, 4x128 and 1x1024; (2) frozen backbone forward +
backward to the input embeddings (dropout on), 20x64 and 4x128; (3) the same with LoRA r=8 on c_attn
(GPT-2) or q_proj,v_proj (Llama family), PEFT on the PyTorch side; (4) greedy generation, batch 1, 128
new tokens after a 16-token prompt (`generate(do_sample=False)`).

How it measures: both engines stay loaded in their own process (`benchmarks engine --serve` and a
PyTorch process reading the same configuration names), and every configuration is run by one, then
the other, alternately (ABBA order), `--pairs` times after a warm-up each, with a pause between runs
so that neither side's idle threads still spin. A pair's ratio compares two runs seconds apart, so
the drift of a shared machine over minutes (its sgemm speed here moved between 167 and 247 GFLOP/s
from one run to the next) cancels; the table gives each side's median tokens/s and the median of the
pairs' ratios with their range. `--isa avx2` measures what a CPU without AVX-512 runs, on an AVX-512
machine: PyTorch with MKL, ATen and oneDNN held to AVX2, this engine on OpenBLAS's Haswell kernels or
MKL's AVX2 code (each prints which code it runs). This engine runs its products on the library it picks
by itself (MKL on an Intel CPU where `Tools/install/mkl.sh` installed it, else OpenBLAS);
`--also-env CLLM4REC_BLAS=openblas` adds a column on OpenBLAS; `--also-bin before=/tmp/old/.build/release/benchmarks`
adds one for another build of this engine (another commit: a before/after in the same run). Needs torch (CPU), transformers and peft. The default model folder (Models/random-small in the
repository) is made with `cllm4rec init-gpt2 --config small` if missing; a --model folder must hold
weights. The same folder is loaded into PyTorch. Runs from any directory.
"""
import argparse, os, statistics, subprocess, sys, time

PYTORCH_SERVER = r'''
import copy, os, resource, sys, time
import torch
from transformers import AutoModelForCausalLM
model_dir, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
gpt2 = model.config.model_type == "gpt2"
for p in model.parameters():
    p.requires_grad_(False)
V = model.config.vocab_size
configs = {}

def forward(m, b, t):
    ids = torch.randint(0, V, (b, t))
    def run():
        m.eval()
        with torch.no_grad():
            m(input_ids=ids, labels=ids).loss.item()
    return run

def train_step(m, b, t):
    ids = torch.randint(0, V, (b, t))
    def run():
        m.train()
        emb = m.get_input_embeddings()(ids).detach().requires_grad_(True)
        loss = m(inputs_embeds=emb, labels=ids).loss
        loss.backward()
    return run

for b, t in [(4, 128), (1, 1024)]:
    configs[f"forward loss {b}x{t}"] = forward(model, b, t)
for b, t in [(20, 64), (4, 128)]:
    configs[f"forward+backward {b}x{t}"] = train_step(model, b, t)
try:
    from peft import LoraConfig, get_peft_model
    targets = ["c_attn"] if gpt2 else ["q_proj", "v_proj"]
    lora = get_peft_model(copy.deepcopy(model), LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=targets, fan_in_fan_out=gpt2))
    for b, t in [(20, 64), (4, 128)]:
        configs[f"forward+backward LoRA r=8 {b}x{t}"] = train_step(lora, b, t)
except ImportError:
    print("torch LoRA: peft is not installed, skipped", flush=True)

prompt = torch.randint(0, V, (1, 16))
def gen():
    model.eval()
    with torch.no_grad():
        model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=128,
                       min_new_tokens=128, pad_token_id=0)
configs["greedy generate 1x(16+128)"] = gen
print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
      f"MKL_ENABLE_INSTRUCTIONS={os.environ.get('MKL_ENABLE_INSTRUCTIONS', '(unset)')}", flush=True)
print("ready", flush=True)
for line in sys.stdin:
    name = line.rstrip("\n")
    if name == "quit":
        break
    if name not in configs:
        print(f"error unknown configuration {name}", flush=True)
        continue
    t0 = time.perf_counter()
    configs[name]()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"seconds {time.perf_counter() - t0:.6f} peak_mb {peak:.0f}", flush=True)
'''

TOKENS = {"forward loss 4x128": 512, "forward loss 1x1024": 1024, "forward+backward 20x64": 1280,
          "forward+backward 4x128": 512, "forward+backward LoRA r=8 20x64": 1280,
          "forward+backward LoRA r=8 4x128": 512, "greedy generate 1x(16+128)": 128}


class Engine:
    """One engine process that runs a named configuration per line and answers with its seconds."""

    def __init__(self, label, argv, env=None):
        self.label = label
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        while True:
            line = self.proc.stdout.readline()
            if not line:
                sys.exit(f"{label}: the engine process ended before it was ready")
            if line.strip() == "ready":
                break
            print(f"{label}: {line.rstrip()}")
        self.peak_mb = 0.0

    def run(self, name):
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        if len(answer) != 4 or answer[0] != "seconds":
            sys.exit(f"{self.label}: {name}: unexpected answer {' '.join(answer) or '(process ended)'}")
        self.peak_mb = max(self.peak_mb, float(answer[3]))
        return float(answer[1])

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None,
                    help="model folder (default: Models/random-small in the repository, made with init-gpt2 if missing)")
    ap.add_argument("--pairs", type=int, default=5, help="timed runs of each engine per configuration, alternating (after one warm-up each)")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds between runs, so the idle engine's threads are asleep")
    ap.add_argument("--only", action="append", help="a configuration name (repeatable); default: all")
    ap.add_argument("--env-kernels-too", action="store_true",
                    help="also run this engine on the kernels OpenBLAS picks by itself (CLLM4REC_BLAS_CORETYPE=openblas)")
    ap.add_argument("--isa", choices=["native", "avx2"], default="native",
                    help="avx2: both engines as on a CPU without AVX-512 (PyTorch: MKL_ENABLE_INSTRUCTIONS=AVX2, "
                         "ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2; this engine: OpenBLAS's Haswell kernels or "
                         "MKL_ENABLE_INSTRUCTIONS=AVX2), "
                         "to measure the AVX2 path on an AVX-512 machine")
    ap.add_argument("--also-env", action="append", default=[], metavar="VAR=VALUE",
                    help="also run this engine with VAR=VALUE in its environment (repeatable), e.g. "
                         "CLLM4REC_BLAS=openblas to compare the product libraries in the model")
    ap.add_argument("--also-bin", action="append", default=[], metavar="LABEL=PATH",
                    help="also run another build's `benchmarks` executable (repeatable), e.g. a checkout of an earlier "
                         "commit, to compare two versions of this engine in the same run; --also-env applies to it too")
    a = ap.parse_args()
    if a.isa == "avx2" and a.env_kernels_too:
        sys.exit("--env-kernels-too and --isa avx2 contradict each other: the first lets OpenBLAS pick its "
                 "kernels (AVX-512 ones here), the second holds this engine to OpenBLAS's Haswell kernels")
    # Each extra engine: (label, variable, value). --env-kernels-too is one of them, named for what it does.
    also_env = [("(OpenBLAS's own kernels)", "CLLM4REC_BLAS_CORETYPE", "openblas")] if a.env_kernels_too else []
    for assignment in a.also_env:
        var, sep, value = assignment.partition("=")
        if not sep or not var:
            sys.exit(f"--also-env {assignment}: expected VAR=VALUE")
        also_env.append((assignment, var, value))
    # Runs from any directory: the build in the repository, a --model path as the user wrote it.
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    made_if_missing = a.model is None
    a.model = os.path.join(repository, "Models", "random-small") if made_if_missing else os.path.abspath(a.model)
    if not made_if_missing and not os.path.exists(os.path.join(a.model, "model.safetensors")):
        sys.exit(f"--model {a.model}: no model.safetensors there (import a model with `cllm4rec import-model`, "
                 "or leave --model out for a random GPT-2 small)")
    try:
        subprocess.run(["swift", "build", "-c", "release"], check=True, stdout=subprocess.DEVNULL, cwd=repository)
        bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], check=True, capture_output=True,
                                 text=True, cwd=repository).stdout.strip()
    except subprocess.CalledProcessError as error:
        sys.exit(f"building the engine in {repository} failed ({' '.join(error.cmd)}: exit {error.returncode})")
    if not os.path.exists(os.path.join(a.model, "model.safetensors")):
        subprocess.run([os.path.join(bin_dir, "cllm4rec"), "init-gpt2", "--config", "small", "--seed", "1", "--output", a.model], check=True)

    swift_argv = [os.path.join(bin_dir, "benchmarks"), "engine", "--model", a.model, "--threads", str(a.threads), "--serve"]
    env = dict(os.environ)
    env.pop("CLLM4REC_BLAS_CORETYPE", None)
    torch_env = dict(os.environ)
    if a.isa == "avx2":
        env.update(CLLM4REC_BLAS_CORETYPE="Haswell", MKL_ENABLE_INSTRUCTIONS="AVX2")
        torch_env.update(MKL_ENABLE_INSTRUCTIONS="AVX2", ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2")
    engines = [Engine("torch", [sys.executable, "-c", PYTORCH_SERVER, a.model, str(a.threads)], torch_env),
               Engine("swift", swift_argv, env)]
    for label, var, value in also_env:
        engines.append(Engine(f"swift {label}", swift_argv, dict(env, **{var: value})))
    for assignment in a.also_bin:
        label, sep, path = assignment.partition("=")
        if not sep or not label or not os.access(path, os.X_OK):
            sys.exit(f"--also-bin {assignment}: expected LABEL=PATH to an executable `benchmarks`")
        other_argv = [os.path.abspath(path)] + swift_argv[1:]
        engines.append(Engine(label, other_argv, env))
        for env_label, var, value in also_env:
            engines.append(Engine(f"{label} {env_label}", other_argv, dict(env, **{var: value})))
    names = [n for n in TOKENS if not a.only or n in a.only]
    # The PyTorch side has LoRA only with peft installed (it says so and skips them): so does this.
    import importlib.util
    if importlib.util.find_spec("peft") is None:
        names = [n for n in names if "LoRA" not in n]
    print(f"\n{a.threads} threads, {a.pairs} alternating runs per engine and configuration, {a.pause} s between runs"
          + (", both engines on AVX2 code (--isa avx2)" if a.isa == "avx2" else ""))
    rows = []
    for name in names:
        for e in engines:
            e.run(name)  # warm-up: buffers sized, weights in cache, PyTorch's allocator primed
        times = {e.label: [] for e in engines}
        for r in range(a.pairs):
            for e in (engines if r % 2 == 0 else list(reversed(engines))):
                time.sleep(a.pause)
                times[e.label].append(e.run(name))
        tokens = TOKENS[name]
        torch_t = times["torch"]
        # Each engine against PyTorch: median tokens/s, and the pairs' ratios (median, lowest, highest).
        summary = {}
        for e in engines[1:]:
            ratios = [t / s for t, s in zip(torch_t, times[e.label])]
            summary[e.label] = (tokens / statistics.median(times[e.label]), statistics.median(ratios), min(ratios), max(ratios))
        line = f"{name:34s} torch {tokens / statistics.median(torch_t):7.1f} tok/s"
        for label, (tps, ratio, lo, hi) in summary.items():
            line += f" | {label} {tps:7.1f} tok/s, ratio {ratio:4.2f}x [{lo:.2f}-{hi:.2f}]"
        print(line, flush=True)
        # Another build against this one, pair by pair (runs seconds apart): > 1 means this build is faster.
        for e in engines[2:]:
            if e.label.split(" ")[0] in ("swift",):
                continue
            twin = "swift" + e.label[len(e.label.split(" ")[0]):]
            if twin in times:
                r = [o / s for s, o in zip(times[twin], times[e.label])]
                print(f"{'':34s} {twin} against {e.label}: {statistics.median(r):4.2f}x [{min(r):.2f}-{max(r):.2f}]", flush=True)
        rows.append((name, tokens / statistics.median(torch_t)) + summary["swift"])
    for e in engines:
        e.close()
    print(f"\npeak RSS: " + ", ".join(f"{e.label} {e.peak_mb:.0f} MB" for e in engines))
    print(f"\n| configuration | PyTorch tok/s | this engine tok/s | ratio (median of {a.pairs} pairs) | range |")
    print("|---|---|---|---|---|")
    for name, t, s, r, lo, hi in rows:
        print(f"| {name} | {t:.1f} | {s:.1f} | {r:.2f}x | {lo:.2f}-{hi:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
