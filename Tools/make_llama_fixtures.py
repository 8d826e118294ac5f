#!/usr/bin/env python3
"""Tiny random Llama and Qwen2 fixtures for Tests/LlamaTests, written by Hugging Face's own code.

For each of tiny-llama (tied head, grouped-query attention) and tiny-qwen2 (q/k/v biases, untied
head), writes Tests/LlamaTests/Fixtures/NAME/:
  hf/config.json, hf/model.safetensors   save_pretrained of a randomly initialised, perturbed model
  model-f32.gguf, model-q8_0.gguf        the same weights through gguf-py's GGUFWriter with llama.cpp's
                                         names (and, for llama, its q/k row permutation); the second
                                         with every matrix quantized to Q8_0
  reference.safetensors                  inputs and outputs: logits (also of both GGUF files as
                                         transformers loads them), loss, input-embedding gradients,
                                         greedy generations, LoRA logits/loss/gradients
  weight_gradients.safetensors           autograd gradient of the loss for every parameter
  lora/                                  a PEFT adapter (r 4, all seven projections, random A and B)

Needs: pip install transformers peft gguf safetensors and a CPU torch wheel. Run from the
repository root: python3 Tools/make_llama_fixtures.py
"""
import os, shutil, tempfile

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as T
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = os.path.join("Tests", "LlamaTests", "Fixtures")
SEQS = [[5, 17, 260, 3, 99, 150, 42, 7, 299], [1, 200, 64, 64, 12, 250]]
PROMPTS = [[5, 17, 260, 3], [1, 200, 64, 64, 12, 250]]
NEW_TOKENS = 12


def build(kind):
    torch.manual_seed(7 if kind == "llama" else 8)
    common = dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2,
                  attention_dropout=0.0)
    if kind == "llama":
        cfg = LlamaConfig(**common, rope_theta=10000.0, tie_word_embeddings=True)
        model = LlamaForCausalLM(cfg)
    else:
        cfg = Qwen2Config(**common, rope_theta=1000000.0, tie_word_embeddings=False)
        model = Qwen2ForCausalLM(cfg)
    model.eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(0.05 * torch.randn_like(p))
    return cfg, model


def losses(model, seqs, embeds=None):
    """Mean next-token cross-entropy over all predicting rows of all sequences (packed mean)."""
    total, count, outs = 0.0, 0, []
    for s, ids in enumerate(seqs):
        x = torch.tensor([ids])
        out = model(inputs_embeds=embeds[s]) if embeds is not None else model(input_ids=x)
        logits = out.logits[0]
        total = total + torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="sum")
        count += len(ids) - 1
        outs.append(logits)
    return total / count, outs


def padded(rows, width):
    out = torch.zeros(len(rows), max(r.shape[0] for r in rows), width)
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out


def llama_cpp_permute(w, n_head):
    """convert_hf_to_gguf's permute: Hugging Face q/k rows to llama.cpp's interleaved order."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight",
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight", "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias", "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(name):
    if name in GGUF_NAMES:
        return GGUF_NAMES[name]
    parts = name.split(".")
    return f"blk.{parts[2]}." + GGUF_NAMES[".".join(parts[3:])]


def byte_vocab(n):
    """A byte-level vocabulary of n tokens: the 256 byte characters, then merges of common pairs."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, k = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + k); k += 1
    chars = [chr(c) for c in cs]
    tokens, merges = list(chars), []
    words = ["Ġt", "he", "Ġa", "in", "Ġthe", "er", "on", "Ġs", "at", "en", "Ġw", "or", "es", "an", "Ġo", "it", "is", "Ġc"]
    for w in words:
        if len(tokens) >= n:
            break
        left, right = (w[:-1], w[-1]) if w not in ("Ġthe",) else ("Ġt", "he")
        if left in tokens and right in tokens:
            tokens.append(w); merges.append(f"{left} {right}")
    while len(tokens) < n:
        tokens.append(f"<extra_{len(tokens)}>")
    return tokens, merges


def write_gguf(path, kind, cfg, model, qtype):
    arch = kind
    w = gguf.GGUFWriter(path, arch=arch)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"] if hasattr(cfg, "rope_parameters") and cfg.rope_parameters else cfg.rope_theta)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_vocab_size(cfg.vocab_size)
    tokens, merges = byte_vocab(cfg.vocab_size)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    w.add_token_types([1] * len(tokens))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    for name, p in model.state_dict().items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        a = p.detach().numpy().astype(np.float32)
        if kind == "llama" and ("q_proj" in name or "k_proj" in name):
            heads = cfg.num_attention_heads if "q_proj" in name else cfg.num_key_value_heads
            a = llama_cpp_permute(a, heads)
        if qtype == T.Q8_0 and a.ndim == 2:
            w.add_tensor(gguf_name(name), gguf.quants.quantize(a, T.Q8_0), raw_dtype=T.Q8_0)
        else:
            w.add_tensor(gguf_name(name), a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_logits(path):
    """Logits of SEQS from the GGUF file as transformers loads it (its reference loader)."""
    d = tempfile.mkdtemp()
    shutil.copy(path, os.path.join(d, "m.gguf"))
    m = AutoModelForCausalLM.from_pretrained(d, gguf_file="m.gguf", torch_dtype=torch.float32).eval()
    with torch.no_grad():
        _, outs = losses(m, SEQS)
    shutil.rmtree(d)
    return padded(outs, m.config.vocab_size)


def main():
    from peft import LoraConfig, get_peft_model

    for kind in ["llama", "qwen2"]:
        out = os.path.join(ROOT, f"tiny-{kind}")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        cfg, model = build(kind)
        model.save_pretrained(os.path.join(out, "hf"), safe_serialization=True)
        os.remove(os.path.join(out, "hf", "generation_config.json"))
        ref = {}
        lengths = torch.tensor([len(s) for s in SEQS], dtype=torch.float32)
        ids = torch.zeros(len(SEQS), max(len(s) for s in SEQS))
        for i, s in enumerate(SEQS):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.float32)
        ref["input_ids"], ref["lengths"] = ids, lengths

        # Loss and every parameter's gradient (token ids in).
        model.zero_grad()
        loss, outs = losses(model, SEQS)
        loss.backward()
        ref["loss"] = loss.detach().reshape(1)
        ref["logits"] = padded([o.detach() for o in outs], cfg.vocab_size)
        save_file({n: p.grad.detach().clone().contiguous() for n, p in model.named_parameters()},
                  os.path.join(out, "weight_gradients.safetensors"))

        # Input-embedding gradients.
        embeds = [model.model.embed_tokens(torch.tensor([s])).detach().requires_grad_() for s in SEQS]
        loss2, _ = losses(model, SEQS, embeds)
        loss2.backward()
        ref["input_embeds_grad"] = padded([e.grad[0] for e in embeds], cfg.hidden_size)

        # Greedy generation, never stopping early.
        model.generation_config.eos_token_id = None
        model.generation_config.pad_token_id = 0
        for i, p in enumerate(PROMPTS):
            g = model.generate(torch.tensor([p]), max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=None)
            ref[f"greedy_{i}"] = g[0, len(p):].float()

        # GGUF copies, and the logits transformers gets from them.
        for q, fname in [(T.F32, "model-f32.gguf"), (T.Q8_0, "model-q8_0.gguf")]:
            write_gguf(os.path.join(out, fname), kind, cfg, model, q)
            ref[f"logits_{fname.split('.')[0].replace('-', '_')}"] = gguf_logits(os.path.join(out, fname))
        assert torch.allclose(ref["logits_model_f32"], ref["logits"], atol=1e-5), "gguf-py round trip differs"

        # LoRA: PEFT adapter with random A and B on all seven projections.
        torch.manual_seed(99)
        lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        peft_model = get_peft_model(model, lcfg)
        with torch.no_grad():
            for n, p in peft_model.named_parameters():
                if "lora_" in n:
                    p.copy_(0.1 * torch.randn_like(p))
        peft_model.save_pretrained(os.path.join(out, "lora"))
        os.remove(os.path.join(out, "lora", "README.md"))
        peft_model.zero_grad()
        lloss, louts = losses(peft_model, SEQS)
        lloss.backward()
        ref["lora_loss"] = lloss.detach().reshape(1)
        ref["lora_logits"] = padded([o.detach() for o in louts], cfg.vocab_size)
        for n, p in peft_model.named_parameters():
            if "lora_" in n and (".layers.0.self_attn.q_proj." in n or ".layers.1.mlp.down_proj." in n or ".layers.1.self_attn.k_proj." in n):
                key = n.replace("base_model.model.", "").replace(".default", "")
                ref[f"lora_grad.{key}"] = p.grad.detach().clone()
        save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))
        print(kind, "loss", float(loss), "lora loss", float(lloss))


if __name__ == "__main__":
    main()
