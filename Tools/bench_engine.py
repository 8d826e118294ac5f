#!/usr/bin/env python3
"""Engine speed: this project's engine next to PyTorch + Hugging Face transformers, same model, same
shapes, same thread count, in one run. Any model folder: GPT-2 (default: a random GPT-2 small) or the
Llama family (e.g. Models/smollm2-135m from Tools/fetch-smollm2).

    python3 Tools/bench_engine.py [--threads 2] [--model Models/random-small] [--rounds 3] [--env-kernels-too]

Configurations: (1) forward with loss, no grad, 4x128 and 1x1024; (2) frozen backbone forward +
backward to the input embeddings (dropout on), 20x64 and 4x128; (3) the same with LoRA r=8 on c_attn
(GPT-2) or q_proj,v_proj (Llama family), PEFT on the PyTorch side; (4) greedy generation, batch 1, 128 new tokens after a 16-token prompt
(`generate(do_sample=False)`). Prints tokens/s, peak memory and, for Swift, the share of the measured
sgemm peak. The model folder is made with `cllm4rec init-gpt2 --config small` if missing, and the
same folder is loaded into PyTorch. Needs torch (CPU), transformers and peft.
"""
import argparse, json, os, resource, subprocess, sys, time

PYTORCH_PART = r'''
import json, resource, sys, time
import torch
from transformers import AutoModelForCausalLM
model_dir, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
gpt2 = model.config.model_type == "gpt2"
for p in model.parameters():
    p.requires_grad_(False)
V = model.config.vocab_size
out = []

def best(fn):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return min(times)

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def report(name, tokens, secs):
    out.append({"name": name, "tokens_per_s": tokens / secs, "peak_mb": peak_mb()})
    print(f"torch {name:34s} {tokens / secs:8.1f} tokens/s  peak RSS {peak_mb():6.0f} MB", flush=True)

model.eval()
for b, t in [(4, 128), (1, 1024)]:
    ids = torch.randint(0, V, (b, t))
    def fwd():
        with torch.no_grad():
            model(input_ids=ids, labels=ids).loss.item()
    report(f"forward loss {b}x{t}", b * t, best(fwd))

def train_step(m, b, t):
    ids = torch.randint(0, V, (b, t))
    def step():
        emb = m.get_input_embeddings()(ids).detach().requires_grad_(True)
        loss = m(inputs_embeds=emb, labels=ids).loss
        loss.backward()
    return step

model.train()
for b, t in [(20, 64), (4, 128)]:
    report(f"forward+backward {b}x{t}", b * t, best(train_step(model, b, t)))
try:
    from peft import LoraConfig, get_peft_model
    targets = ["c_attn"] if gpt2 else ["q_proj", "v_proj"]
    lora = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=targets, fan_in_fan_out=gpt2))
    lora.train()
    for b, t in [(20, 64), (4, 128)]:
        report(f"forward+backward LoRA r=8 {b}x{t}", b * t, best(train_step(lora, b, t)))
    model = lora.unload()
except ImportError:
    print("torch LoRA: peft is not installed, skipped", flush=True)

model.eval()
prompt = torch.randint(0, V, (1, 16))
def gen():
    with torch.no_grad():
        model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=128,
                       min_new_tokens=128, pad_token_id=0)
report("greedy generate 1x(16+128)", 128, best(gen))
print("JSON " + json.dumps(out))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="Models/random-small")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run PyTorch and this engine alternately this many times and report each configuration's median "
                         "ratio over the rounds (on a shared machine, pairs close in time cancel most of its drift)")
    ap.add_argument("--env-kernels-too", action="store_true",
                    help="also run the Swift side on the kernels OpenBLAS picks by itself (CLLM4REC_BLAS_CORETYPE=openblas)")
    a = ap.parse_args()
    subprocess.run(["swift", "build", "-c", "release"], check=True, stdout=subprocess.DEVNULL)
    bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], check=True, capture_output=True, text=True).stdout.strip()
    if not os.path.exists(os.path.join(a.model, "model.safetensors")):
        subprocess.run([os.path.join(bin_dir, "cllm4rec"), "init-gpt2", "--config", "small", "--seed", "1", "--output", a.model], check=True)

    def run_torch():
        torch_run = subprocess.run([sys.executable, "-c", PYTORCH_PART, a.model, str(a.threads), str(a.repeats)],
                                   check=True, capture_output=True, text=True)
        rows = {}
        for line in torch_run.stdout.splitlines():
            if line.startswith("JSON "):
                rows = {r["name"]: r for r in json.loads(line[5:])}
            else:
                print(line)
        return rows

    torch_rows = run_torch()
    def run_swift(env_kernels):
        env = dict(os.environ)
        env.pop("CLLM4REC_BLAS_CORETYPE", None)
        if env_kernels:
            env["CLLM4REC_BLAS_CORETYPE"] = "openblas"
        run = subprocess.run([os.path.join(bin_dir, "benchmarks"), "engine", "--model", a.model, "--threads", str(a.threads),
                              "--repeats", str(a.repeats)], check=True, capture_output=True, text=True, env=env)
        print(run.stdout, end="")
        return run.stdout

    def kernels(out):
        return out.splitlines()[0].split(", kernels ")[1].split(" ")[0]

    def ratio_rows(out, rows):
        found = {}
        for line in out.splitlines():
            for name, row in rows.items():
                if line.startswith("swift " + name + " "):
                    found[name] = float(line[len("swift " + name):].split()[0]) / row["tokens_per_s"]
        return found

    def ratios(out, title):
        print(f"\nratio swift / torch ({a.threads} threads, {title}):")
        for name, r in ratio_rows(out, torch_rows).items():
            print(f"  {name:34s} {r:5.2f}x")

    chosen = run_swift(False)
    if a.rounds > 1:
        per_round = [ratio_rows(chosen, torch_rows)]
        for k in range(1, a.rounds):
            print(f"\nround {k + 1} of {a.rounds}")
            torch_rows = run_torch()
            per_round.append(ratio_rows(run_swift(False), torch_rows))
        print(f"\nratio swift / torch, {a.rounds} alternating rounds ({a.threads} threads): median [each round]")
        for name in per_round[0]:
            values = sorted(r[name] for r in per_round if name in r)
            median = values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
            print(f"  {name:34s} {median:5.2f}x  [" + ", ".join(f"{r[name]:.2f}" for r in per_round if name in r) + "]")
        return
    if a.env_kernels_too:
        # The same engine on the kernels OpenBLAS would pick by itself (OPENBLAS_CORETYPE included),
        # to separate the engine's share of the ratio from the kernel choice's.
        print()
        inherited = run_swift(True)
        if kernels(inherited) != kernels(chosen):
            ratios(inherited, f"OpenBLAS {kernels(inherited)} kernels, CLLM4REC_BLAS_CORETYPE=openblas")
    ratios(chosen, f"OpenBLAS {kernels(chosen)} kernels, the default")


if __name__ == "__main__":
    sys.exit(main())
