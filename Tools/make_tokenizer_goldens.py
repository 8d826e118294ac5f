#!/usr/bin/env python3
"""Golden encodings from Hugging Face's GPT-2 tokenizer (Rust `tokenizers`, via transformers' AutoTokenizer) for Tests/TokenizerTests.

Writes Tests/TokenizerTests/Fixtures/goldens.jsonl, one case a line:
  {"hex": <input bytes>, "ids": [...]}        input = bytes.decode("utf-8", errors="replace")
  {"decode": [...], "hex": <decoded UTF-8>}   tokenizer.decode(ids) (lossy for invalid UTF-8)
The corpus: hand-picked cases (whitespace runs, contractions, digits, punctuation, accents, CJK,
emoji, control characters, invalid UTF-8, <|endoftext|> inside text) plus 400 seeded random strings
drawn from the same character classes.
Run from the repository root: python3 Tools/make_tokenizer_goldens.py
"""
import json, os, random

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoTokenizer

OUT = os.path.join("Tests", "TokenizerTests", "Fixtures", "goldens.jsonl")

HAND = [
    "Hello world", "Hello, world!", " leading space", "trailing space ", "  two leading", "a  b   c    d",
    "tabs\tand\t\tmore\ttabs", "new\nline", "\n\nHello", "Hello\n\n", "\n", " ", "", "   ", " \n \n ",
    "I'm you're we've she'll he'd it's can't", "'s 'S 'RE 'll' ''", "DON'T SHOUT'S", "rock 'n' roll",
    "1234567890 3.14159 -42 1e10 0x1F", "٣٤٥ ⅷ ½ ²", "$100.00 (50%) #tag @user a+b=c {x:[1,2]}",
    "...!!!???", "---===+++", "café naïve résumé Ångström", "e\u0301 combining accent", "Straße ß ẞ",
    "中文字符测试", "日本語のテキスト、カタカナ", "한국어 텍스트", "Привет, мир!", "مرحبا بالعالم", "שלום עולם",
    "नमस्ते दुनिया", "ไทยภาษา", "emoji 😀😃 family 👨‍👩‍👧 flag 🇫🇷 skin 👍🏽", "math ∑∫√∞ ≠ ≤",
    "nbsp\u00a0here", "ideographic\u3000space", "line\u2028sep", "para\u2029sep", "nel\u0085x", "vt\x0bff\x0c",
    "fs\x1cgs\x1drs\x1eus\x1f", "nul\x00byte", "bell\x07 esc\x1b[0m", "zero\u200bwidth", "bom\ufeffhere",
    "a<|endoftext|>b", "<|endoftext|>", "x <|endoftext|> y", "<|endoftext|><|endoftext|>", "<|endoftext|",
    "user_12 item_3 user_", "https://example.com/path?q=1&r=2#frag", "snake_case camelCase kebab-case",
    "    def f(x):\n        return x * 2\n", "\r\nwindows\r\nlines\r\n", "A" * 300, "ab" * 150 + "!",
    " " * 40 + "x", "\t \t x", "supercalifragilisticexpialidocious antidisestablishmentarianism",
]
INVALID = [b"abc\xffdef", b"\xe2\x82", b"\xc3(", b"\xf0\x9f\x98", b"ok\xed\xa0\x80ko", b"\x80\x80 x", b"\xf4\x90\x80\x80"]

POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "    ", "\t\n\r\x0b\x0c",
    ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`", "àéîõüçñÅØÆœß", "中文日本語한국어", "😀👍🏽🇫🇷👨‍👩‍👧", "\u0301\u0308\u200b\u200d",
    "\u00a0\u2028\u3000\u0085\u1680\u2009", "٣٤५໒", "ⅷ½²", "'s'll're'd'm't've", "ΑΒΓαβγ", "Ωмир",
]


def random_strings(n, seed=20261126):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = []
        for _ in range(rng.randint(1, 40)):
            pool = rng.choice(POOLS)
            s.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 4))))
        out.append("".join(s))
    return out


def main():
    tok = AutoTokenizer.from_pretrained("Models/gpt2")
    rust = tok.backend_tokenizer
    # The same tokenizer assembled by hand from the tokenizers library, as a cross-check.
    plain = Tokenizer(models.BPE.from_file("Models/gpt2/vocab.json", "Models/gpt2/merges.txt"))
    plain.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    plain.decoder = decoders.ByteLevel()
    plain.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    lines = []
    inputs = [s.encode("utf-8") for s in HAND] + INVALID + [s.encode("utf-8") for s in random_strings(400)]
    for raw in inputs:
        text = raw.decode("utf-8", errors="replace")
        ids = rust.encode(text, add_special_tokens=False).ids
        assert ids == tok.encode(text) == plain.encode(text).ids, text
        assert rust.decode(ids, skip_special_tokens=False) == text, text
        lines.append({"hex": raw.hex(), "ids": ids})
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    # Ids whose bytes are not valid UTF-8 on their own: the lead byte of a 3-byte sequence, a lone
    # continuation byte, half an emoji, and the same pieces completed.
    euro = tok.encode("€")             # 3 bytes split over byte-level tokens
    emoji = tok.encode("😀")
    decodes = [euro[:1], euro[:1] + [11], emoji[:1], emoji, euro + emoji[:1] + [eot], [eot, 15496, 995], list(range(180, 200))]
    for ids in decodes:
        lines.append({"decode": ids, "hex": rust.decode(ids, skip_special_tokens=False).encode("utf-8").hex()})
    with open(OUT, "w") as f:
        for l in lines:
            f.write(json.dumps(l) + "\n")
    print("wrote", len(lines), "cases to", OUT)


if __name__ == "__main__":
    main()
