#!/usr/bin/env python3
"""Writes the seized material of the exercise scenarios (fixtures/lab/ex-*), Python stdlib only.

Usage: python3 scripts/train/make_exercise_material.py WORDLIST [FIXTURES_LAB_DIR]
WORDLIST is the BIP39 English wordlist (2048 lines). Same recipes as fixtures/lab/tools/make_material.py:
a BIP39 phrase's entropy is the first 16 bytes of SHA256("custos-lab fixture <tag>"); an Electrum
segwit seed is the first of SHA256("custos-lab electrum <tag> <n>") whose seed version starts with
100 and which is not valid BIP39. Existing files are never overwritten (a mismatch is an error).
"""
import hashlib, hmac, os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../fixtures/lab/tools"))
from make_material import W, load_wordlist, bip39, is_bip39, electrum  # noqa: E402

load_wordlist(sys.argv[1])
ROOT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../fixtures/lab")

def not_a_seed(tag):
    """Twelve wordlist words that are neither a valid BIP39 phrase nor an Electrum seed."""
    n = 0
    while True:
        bits = int.from_bytes(hashlib.sha256(f"custos-lab decoy {tag} {n}".encode()).digest(), 'big')
        words = ' '.join(W[(bits >> (11 * i)) & 2047] for i in range(12))
        v = hmac.new(b"Seed version", words.encode(), hashlib.sha512).hexdigest()
        if not is_bip39(words) and not v.startswith(("01", "100", "101", "102")):
            return words
        n += 1

FILES = {
    "ex-01-passphrase-decoys": {
        "seed.txt": bip39("ex-01-passphrase-decoys"),
        "passphrase.txt": "cellar door 1987",
        "electrum-seed.txt": electrum("ex-01-passphrase-decoys"),
        "decoy-seed.txt": bip39("ex-01-passphrase-decoys decoy"),
        "decoy-words.txt": not_a_seed("ex-01-passphrase-decoys"),
    },
    "ex-03-three-keyholders": {"seed.txt": bip39("ex-03-three-keyholders")},
    "ex-04-compromised-workstation": {"seed.txt": bip39("ex-04-compromised-workstation")},
    "ex-07-second-examiner": {"seed.txt": bip39("ex-07-second-examiner")},
}

for scenario, files in FILES.items():
    d = os.path.join(ROOT, scenario)
    os.makedirs(d, exist_ok=True)
    for name, text in files.items():
        p = os.path.join(d, name)
        if os.path.exists(p):
            assert open(p).read().strip() == text, f"{p} differs from its recipe"
            continue
        with open(p, "x") as f:
            f.write(text + "\n")
        print("wrote", p)
