#!/usr/bin/env python3
"""A SmolLM-style byte-level BPE tokenizer in both file forms, with Hugging Face's encodings.

Trains a 1,200-token byte-level BPE with the `tokenizers` library on Debian's license texts, with
SmolLM2's pipeline (pre-tokenizer Sequence[Digits(individual_digits=True), ByteLevel], special
tokens <|endoftext|> <|im_start|> <|im_end|> at ids 0-2), and writes
Tests/TokenizerTests/Fixtures/smollm-style/:
  tokenizer.json   as SmolLM2's own tokenizer.json is laid out
  tokenizer.gguf   a vocabulary-only GGUF of the same tokenizer as llama.cpp writes it
                   (tokenizer.ggml.model gpt2, pre smollm, tokens, merges, token types: specials CONTROL)
  goldens.jsonl    {"hex": text bytes, "ids": tokenizer.json's ids, "gguf_ids": what transformers'
                   GGUF loader gives} for the hand cases of make_tokenizer_goldens.py plus 300 random
                   strings and digit/space cases

transformers' GGUF loader has no `smollm` entry and keeps GPT-2's regex: it differs from the
tokenizer.json (and from llama.cpp) exactly where a digit follows two or more spaces. Both are
recorded; the tests check which one each reader follows.
Needs: pip install tokenizers transformers gguf. Run from the repository root.
"""
import glob, json, os, random, shutil, sys, tempfile

import gguf
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

sys.path.insert(0, os.path.dirname(__file__))
from make_tokenizer_goldens import HAND, INVALID, random_strings  # noqa: E402

OUT = os.path.join("Tests", "TokenizerTests", "Fixtures", "smollm-style")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
EXTRA = ["a  12", "x   3 y", "  7", "1  2   3", "year 2024, room 101", "\t 5", "<|im_start|>user\nhi 42<|im_end|>",
         "<|im_start|><|im_end|><|endoftext|>", "<|im_", "3.14 vs 3,14", "٣ ٤ ⅷ"]


def main():
    texts = []
    for f in sorted(glob.glob("/usr/share/common-licenses/*"))[:12]:
        if os.path.isfile(f):
            texts.append(open(f, encoding="utf-8", errors="replace").read())
    texts.append("0123456789 " * 50 + "2024 1999 3.14159 42")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    tok.save(os.path.join(OUT, "tokenizer.json"))

    data = json.load(open(os.path.join(OUT, "tokenizer.json")))
    vocab = data["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    w = gguf.GGUFWriter(os.path.join(OUT, "tokenizer.gguf"), arch="llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    w.add_token_types([3 if t in SPECIALS else 1 for t in tokens])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(OUT, "tokenizer.json"))
    d = tempfile.mkdtemp()
    shutil.copy(os.path.join(OUT, "tokenizer.gguf"), os.path.join(d, "t.gguf"))
    from_gguf = AutoTokenizer.from_pretrained(d, gguf_file="t.gguf")
    shutil.rmtree(d)
    inputs = [s.encode() for s in HAND + EXTRA] + INVALID + [s.encode() for s in random_strings(300, seed=20261129)]
    differ = 0
    with open(os.path.join(OUT, "goldens.jsonl"), "w") as f:
        for raw in inputs:
            text = raw.decode("utf-8", errors="replace")
            ids = fast.backend_tokenizer.encode(text, add_special_tokens=False).ids
            gids = from_gguf.backend_tokenizer.encode(text, add_special_tokens=False).ids
            differ += ids != gids
            f.write(json.dumps({"hex": raw.hex(), "ids": ids, "gguf_ids": gids}) + "\n")
    print(f"{len(tokens)} tokens, {len(merges)} merges, {len(inputs)} cases, transformers' GGUF tokenizer differs on {differ}")


if __name__ == "__main__":
    main()
