#!/usr/bin/env python3
"""Reference values for the three CLLM4Rec heads, from a PyTorch re-implementation of the reference
model classes over the tiny GPT-2 fixture (Tests/GPT2Tests/Fixtures/tiny-gpt2/hf, vocabulary 1000).

Users are tokens 1000..1002 (I = 3), items 1003..1007 (J = 5). For each step it records the loss
terms and the gradients with respect to the trained embedding tables:
  collaborative: mean CE of the main (item) tokens with the item head tied to the collaborative item
                 table + lambda * sum ||z_col - sg(z_con)||^2 over every ID token of the documents
  content:       mean CE of the main (word) tokens with the vocabulary head tied to wte
                 + lambda * sum ||z_con - sg(z_col)||^2 over the ID tokens of the prompts
  recommendation: mean over prompts of -sum_j t_j log softmax(h_last . V_rec^T)_j
                 + lambda * sum ||z_rec - sg(z_con)||^2 over the prompts' ID tokens and the targets
Sequences are right-padded with an attention mask on the PyTorch side (packed on the Swift side).
  scores:        h_last . V_rec^T for the recommendation prompts (no gradient), what ranking uses
Writes Tests/CLLM4RecTests/Fixtures/heads.safetensors (+ the documents in its metadata), and
adam.safetensors: torch.optim.Adam (lr 1e-2, betas 0.9/0.999, eps 1e-8) on 13 parameters over 5
steps of given gradients, the parameters after each step.
Run from the repository root: python3 Tools/make_cllm4rec_fixtures.py
"""
import json, os

import torch
from safetensors.torch import save_file
from transformers import GPT2LMHeadModel

OUT = os.path.join("Tests", "CLLM4RecTests", "Fixtures", "heads.safetensors")
V, I, J, LAMBDA = 1000, 3, 5, 0.5
FIRST_USER, FIRST_ITEM = V, V + I

COLLAB_DOCS = [([1000, 10, 20, 30], [1003, 1005, 1004]), ([1002, 10, 20, 30], [1007, 1003])]
CONTENT_DOCS = [([1001, 40, 50, 1006, 60], [7, 8, 9, 10]), ([1004, 70, 80], [11, 12])]
REC_PROMPTS = [([1000, 10, 20, 30, 1004, 1006, 40, 1000, 50, 60], [1, 4]), ([1001, 10, 20, 30, 1007, 40, 1001, 50, 60], [0])]


class CLLM4RecReference(torch.nn.Module):
    """The reference's structure: frozen GPT-2, separate user/item tables spliced into the input."""

    def __init__(self, gpt2, users, items):
        super().__init__()
        self.gpt2 = gpt2
        self.users = torch.nn.Parameter(users.clone())
        self.items = torch.nn.Parameter(items.clone())

    def embed(self, ids):
        wte = self.gpt2.transformer.wte.weight
        rows = []
        for t in ids:
            if t >= FIRST_ITEM:
                rows.append(self.items[t - FIRST_ITEM])
            elif t >= FIRST_USER:
                rows.append(self.users[t - FIRST_USER])
            else:
                rows.append(wte[t])
        return torch.stack(rows)

    def hidden(self, seqs):
        T = max(len(s) for s in seqs)
        C = self.gpt2.config.n_embd
        x = torch.zeros(len(seqs), T, C)
        mask = torch.zeros(len(seqs), T, dtype=torch.long)
        for b, s in enumerate(seqs):
            x[b, :len(s)] = self.embed(s)
            mask[b, :len(s)] = 1
        return self.gpt2.transformer(inputs_embeds=x, attention_mask=mask).last_hidden_state


def mr(model, other_users, other_items, tokens):
    total = 0.0
    for t in tokens:
        if t >= FIRST_ITEM:
            total = total + ((model.items[t - FIRST_ITEM] - other_items[t - FIRST_ITEM].detach()) ** 2).sum()
        elif t >= FIRST_USER:
            total = total + ((model.users[t - FIRST_USER] - other_users[t - FIRST_USER].detach()) ** 2).sum()
    return LAMBDA * total


def lm_step(model, docs, head, other, mr_whole):
    seqs = [p + m[:-1] for p, m in docs]
    h = model.hidden(seqs)
    rows, targets = [], []
    for b, (p, m) in enumerate(docs):
        for k in range(len(m)):
            rows.append(h[b, len(p) - 1 + k])
            targets.append(m[k] - FIRST_ITEM if head == "items" else m[k])
    hs = torch.stack(rows)
    w = model.items if head == "items" else model.gpt2.transformer.wte.weight
    lm = torch.nn.functional.cross_entropy(hs @ w.T, torch.tensor(targets))
    ids = [t for p, m in docs for t in (p + m if mr_whole else p)]
    reg = mr(model, other[0], other[1], ids)
    (lm + reg).backward()
    return lm, reg


def rec_step(model, prompts, other):
    h = model.hidden([p for p, _ in prompts])
    last = torch.stack([h[b, len(p) - 1] for b, (p, _) in enumerate(prompts)])
    logp = torch.log_softmax(last @ model.items.T, dim=-1)
    target = torch.zeros(len(prompts), J)
    for b, (_, t) in enumerate(prompts):
        target[b, t] = 1
    loss = -(target * logp).sum(-1).mean()
    ids = [t for p, targets in prompts for t in p + [FIRST_ITEM + j for j in targets]]
    reg = mr(model, other[0], other[1], ids)
    (loss + reg).backward()
    return loss, reg


def main():
    torch.manual_seed(7)
    gpt2 = GPT2LMHeadModel.from_pretrained("Tests/GPT2Tests/Fixtures/tiny-gpt2/hf").eval()
    for p in gpt2.parameters():
        p.requires_grad_(False)
    C = gpt2.config.n_embd
    tables = {k: torch.randn(n, C) * 0.3 for k, n in
              [("user.collaborative", I), ("item.collaborative", J), ("user.content", I), ("item.content", J), ("user.recommendation", I), ("item.recommendation", J)]}
    out = dict(tables)

    m = CLLM4RecReference(gpt2, tables["user.collaborative"], tables["item.collaborative"])
    lm, reg = lm_step(m, COLLAB_DOCS, "items", (tables["user.content"], tables["item.content"]), True)
    out.update({"collaborative.loss": lm.reshape(1), "collaborative.mr": reg.reshape(1),
                "collaborative.grad.user": m.users.grad, "collaborative.grad.item": m.items.grad})

    m = CLLM4RecReference(gpt2, tables["user.content"], tables["item.content"])
    lm, reg = lm_step(m, CONTENT_DOCS, "vocabulary", (tables["user.collaborative"], tables["item.collaborative"]), False)
    out.update({"content.loss": lm.reshape(1), "content.mr": reg.reshape(1),
                "content.grad.user": m.users.grad, "content.grad.item": m.items.grad})

    m = CLLM4RecReference(gpt2, tables["user.recommendation"], tables["item.recommendation"])
    with torch.no_grad():
        h = m.hidden([p for p, _ in REC_PROMPTS])
        last = torch.stack([h[b, len(p) - 1] for b, (p, _) in enumerate(REC_PROMPTS)])
        out["recommendation.scores"] = last @ m.items.T
    loss, reg = rec_step(m, REC_PROMPTS, (tables["user.content"], tables["item.content"]))
    out.update({"recommendation.loss": loss.reshape(1), "recommendation.mr": reg.reshape(1),
                "recommendation.grad.user": m.users.grad, "recommendation.grad.item": m.items.grad})

    meta = {"lambda": str(LAMBDA), "collaborative": json.dumps(COLLAB_DOCS), "content": json.dumps(CONTENT_DOCS),
            "recommendation": json.dumps(REC_PROMPTS)}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in out.items()}, OUT, metadata=meta)
    print("wrote", OUT, {k: round(float(v), 5) for k, v in out.items() if v.numel() == 1})
    write_adam_fixture()
    write_head_input_fixture(gpt2, tables)


def write_head_input_fixture(gpt2, tables):
    """The recommendation head on a standardized input, f(h) = (h - mean) / scale per channel:
    the mean and scale measured on the REC_PROMPTS' last hidden states (population variance plus
    1e-5 under the square root), scores f(h) . V_rec^T, and the loss and gradients of rec_step with
    f applied (head-input.safetensors)."""
    m = CLLM4RecReference(gpt2, tables["user.recommendation"], tables["item.recommendation"])
    with torch.no_grad():
        h = m.hidden([p for p, _ in REC_PROMPTS])
        last = torch.stack([h[b, len(p) - 1] for b, (p, _) in enumerate(REC_PROMPTS)]).double()
        measured_mean = last.mean(0)
        measured_scale = torch.sqrt(last.var(0, unbiased=False) + 1e-5)
    # A mean and scale far from the identity, so the gradient's division by the scale shows.
    torch.manual_seed(13)
    C = gpt2.config.n_embd
    mean = torch.randn(C) * 0.5
    scale = torch.rand(C) * 2 + 0.25

    raw_hidden = m.hidden

    def standardized_hidden(seqs):
        return (raw_hidden(seqs) - mean) / scale

    out = {"measured.mean": measured_mean.float(), "measured.scale": measured_scale.float(), "mean": mean, "scale": scale}
    with torch.no_grad():
        h = standardized_hidden([p for p, _ in REC_PROMPTS])
        last = torch.stack([h[b, len(p) - 1] for b, (p, _) in enumerate(REC_PROMPTS)])
        out["scores"] = last @ m.items.T
    m.hidden = standardized_hidden
    loss, reg = rec_step(m, REC_PROMPTS, (tables["user.content"], tables["item.content"]))
    out.update({"loss": loss.reshape(1), "mr": reg.reshape(1), "grad.user": m.users.grad, "grad.item": m.items.grad})
    path = os.path.join(os.path.dirname(OUT), "head-input.safetensors")
    save_file({k: v.detach().float().contiguous() for k, v in out.items()}, path)
    print("wrote", path, {k: round(float(v), 5) for k, v in out.items() if v.numel() == 1})


def write_adam_fixture():
    torch.manual_seed(11)
    p = torch.nn.Parameter(torch.randn(13))
    grads = torch.randn(5, 13) * torch.tensor([1.0, 0.1, 10.0, 0.0, 1.0] * 2 + [1.0, 1.0, 1.0])
    adam = torch.optim.Adam([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    out = {"initial": p.detach().clone(), "grads": grads.clone()}
    after = []
    for k in range(5):
        p.grad = grads[k].clone()
        adam.step()
        after.append(p.detach().clone())
    out["after"] = torch.stack(after)
    path = os.path.join(os.path.dirname(OUT), "adam.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, path)
    print("wrote", path)


if __name__ == "__main__":
    main()
