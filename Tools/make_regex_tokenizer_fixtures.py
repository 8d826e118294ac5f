#!/usr/bin/env python3
"""Llama 3-style and Qwen2-style byte-level BPE tokenizers with Hugging Face's encodings.

Trains a 1,200-token byte-level BPE with the `tokenizers` library on Debian's license texts for
each of two pipelines, as the models' own tokenizer.json files lay them out:
  llama3-style  pre-tokenizer Sequence[Split(Regex(Llama 3's pattern), isolated), ByteLevel(use_regex=False)]
  qwen2-style   the same with Qwen2's pattern (single digits), and an NFC normalizer
and writes Tests/TokenizerTests/Fixtures/<style>/tokenizer.json, goldens.jsonl ({"hex", "ids"}: the
hand cases of make_tokenizer_goldens.py, extra cases, 300 random strings), and for llama3-style a
vocabulary-only tokenizer.gguf (tokenizer.ggml.pre llama-bpe) whose encodings by transformers' GGUF
loader are checked equal to the tokenizer.json's here.
Needs: pip install tokenizers transformers gguf. Run from the repository root.
"""
import glob, json, os, shutil, sys, tempfile

import gguf
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

sys.path.insert(0, os.path.dirname(__file__))
from make_tokenizer_goldens import HAND, INVALID, random_strings  # noqa: E402

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
EXTRA = ["a  12", "x   3 y", "  7", "1  2   3", "year 2024, room 101 and 1234567", "\t 5", "<|im_start|>user\nhi 42<|im_end|>",
         "HE'S 'Ll 'rE I'M WE'VE", "!hello ?world", "\n\n  \n x", " \n \n", "a\r\n\r\nb", "foo   \n", "「word」 «mot»",
         "e\u0301 cafe\u0301 Å\u030a", "x\u00a0y\u3000z", "end\n"]


def train(pattern, nfc):
    texts = [open(f, encoding="utf-8", errors="replace").read() for f in sorted(glob.glob("/usr/share/common-licenses/*"))[:12]
             if os.path.isfile(f)]
    texts.append("0123456789 " * 50 + "2024 1999 3.14159 42 ")
    tok = Tokenizer(models.BPE())
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=1200, special_tokens=SPECIALS,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return tok


def main():
    inputs = [s.encode() for s in HAND + EXTRA] + INVALID + [s.encode() for s in random_strings(300, seed=20261130)]
    for style, pattern, nfc in [("llama3-style", LLAMA3, False), ("qwen2-style", QWEN2, True)]:
        out = os.path.join("Tests", "TokenizerTests", "Fixtures", style)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        train(pattern, nfc).save(os.path.join(out, "tokenizer.json"))
        fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(out, "tokenizer.json"))
        with open(os.path.join(out, "goldens.jsonl"), "w") as f:
            for raw in inputs:
                text = raw.decode("utf-8", errors="replace")
                f.write(json.dumps({"hex": raw.hex(), "ids": fast.backend_tokenizer.encode(text, add_special_tokens=False).ids}) + "\n")
        if style == "llama3-style":
            data = json.load(open(os.path.join(out, "tokenizer.json")))
            tokens = [None] * len(data["model"]["vocab"])
            for t, i in data["model"]["vocab"].items():
                tokens[i] = t
            w = gguf.GGUFWriter(os.path.join(out, "tokenizer.gguf"), arch="llama")
            w.add_tokenizer_model("gpt2")
            w.add_tokenizer_pre("llama-bpe")
            w.add_token_list(tokens)
            w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]])
            w.add_token_types([3 if t in SPECIALS else 1 for t in tokens])
            w.add_eos_token_id(0)
            w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
            d = tempfile.mkdtemp()
            shutil.copy(os.path.join(out, "tokenizer.gguf"), os.path.join(d, "t.gguf"))
            from_gguf = AutoTokenizer.from_pretrained(d, gguf_file="t.gguf").backend_tokenizer
            shutil.rmtree(d)
            for raw in inputs:
                text = raw.decode("utf-8", errors="replace")
                assert from_gguf.encode(text, add_special_tokens=False).ids == fast.backend_tokenizer.encode(text, add_special_tokens=False).ids, text
        print(style, len(inputs), "cases")


if __name__ == "__main__":
    main()
