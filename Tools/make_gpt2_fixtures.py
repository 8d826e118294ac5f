#!/usr/bin/env python3
"""Builds the tiny random GPT-2 fixtures that the Swift tests load, with Hugging Face's own code.

Writes Tests/GPT2Tests/Fixtures/tiny-gpt2/:
  hf/config.json, hf/model.safetensors      save_pretrained (keys "transformer.*", lm_head tied and dropped)
  pytorch_model_zip.bin                     torch.save(state_dict) in the zip format (lm_head shares wte's storage)
  pytorch_model_legacy.bin                  torch.save(..., _use_new_zipfile_serialization=False), keys without
                                            "transformer." plus the attn.bias/masked_bias buffers, like the Hub's gpt2
  pytorch_model_bigendian.bin               the zip checkpoint rewritten with byteorder "big"
  model_f16.safetensors, model_bf16.safetensors   half-precision copies (safetensors.torch.save_file)
  reference.safetensors                     inputs and Hugging Face outputs for the engine tests (logits, loss,
                                            input-embedding gradients, greedy generations)
  weight_gradients.safetensors              autograd gradient of that loss for every parameter (token ids in, so
                                            wte's gradient has both its tied-head and its lookup parts), keys
                                            without "transformer."

Needs: pip install transformers safetensors and a CPU torch wheel. Run from the repository root:
    python3 Tools/make_gpt2_fixtures.py
"""
import io, json, os, sys, zipfile

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

OUT = os.path.join("Tests", "GPT2Tests", "Fixtures", "tiny-gpt2")
SEED = 1234


def main():
    torch.manual_seed(SEED)
    cfg = GPT2Config(vocab_size=1000, n_positions=64, n_embd=32, n_layer=2, n_head=4, bos_token_id=999, eos_token_id=999,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg).eval()
    # Random init leaves biases and LayerNorm at 0/1: perturb every tensor so a swapped or
    # mis-transposed one cannot go unnoticed.
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(0.05 * torch.randn_like(p))
    os.makedirs(OUT, exist_ok=True)
    model.save_pretrained(os.path.join(OUT, "hf"), safe_serialization=True)

    sd = model.state_dict()
    torch.save(sd, os.path.join(OUT, "pytorch_model_zip.bin"))

    legacy = {}
    for k, v in sd.items():
        if k == "lm_head.weight":
            continue
        legacy[k[len("transformer."):]] = v
    n = cfg.n_positions
    for i in range(cfg.n_layer):
        legacy[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
        legacy[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    torch.save(legacy, os.path.join(OUT, "pytorch_model_legacy.bin"), _use_new_zipfile_serialization=False)

    write_big_endian(os.path.join(OUT, "pytorch_model_zip.bin"), os.path.join(OUT, "pytorch_model_bigendian.bin"))

    plain = {k: v.detach().clone().contiguous() for k, v in sd.items() if k != "lm_head.weight"}
    save_file({k: v.half() for k, v in plain.items()}, os.path.join(OUT, "model_f16.safetensors"))
    save_file({k: v.bfloat16() for k, v in plain.items()}, os.path.join(OUT, "model_bf16.safetensors"))

    write_reference(model, cfg)
    print("wrote", OUT)


def write_big_endian(src, dst):
    """Rewrites a zip checkpoint as a big-endian machine would have saved it."""
    zin = zipfile.ZipFile(src)
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in info.filename:
                t = torch.frombuffer(bytearray(data), dtype=torch.float32)
                data = t.numpy().astype(">f4").tobytes()
            zout.writestr(info.filename, data)


def write_reference(model, cfg):
    g = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(0, cfg.vocab_size, (2, 12), generator=g)
    lengths = torch.tensor([12, 7])
    mask = (torch.arange(12)[None, :] < lengths[:, None]).long()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        # Mean next-token loss over the real (unpadded) positions, as GPT2LMHeadModel computes it
        # with labels = ids and padding labels set to -100.
        labels = ids.clone()
        labels[mask == 0] = -100
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss

    emb = model.transformer.wte(ids).detach().clone().requires_grad_(True)
    out = model(inputs_embeds=emb, attention_mask=mask, labels=labels)
    out.loss.backward()

    model.zero_grad()
    model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    weight_grads = {name[len("transformer."):]: p.grad.detach().clone().contiguous()
                    for name, p in model.named_parameters() if name.startswith("transformer.")}
    save_file(weight_grads, os.path.join(OUT, "weight_gradients.safetensors"),
              metadata={"loss": "mean next-token loss of reference.safetensors' input_ids and lengths"})
    model.zero_grad()

    prompt = torch.tensor([[5, 17, 300, 42]])
    greedy = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                            max_new_tokens=20, pad_token_id=0)
    tensors = {
        "input_ids": ids.float(), "lengths": lengths.float(), "logits": logits,
        "loss": loss.reshape(1), "input_embeds_grad": emb.grad,
        "greedy_prompt": prompt.float(), "greedy_ids": greedy.float(),
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "reference.safetensors"),
              metadata={"seed": str(SEED), "note": "ids stored as F32; loss is the mean over unpadded positions"})


if __name__ == "__main__":
    sys.exit(main())
