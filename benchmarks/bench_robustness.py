"""Evasion robustness: how much recall on offensive text survives the disguises people use.

Takes the COLD test split's offensive texts (`read_native("cold")`, split test, label
offensive), applies each perturbation below with a fixed seed, scores original and
perturbed texts as comments (COLD's texts are; a title gets no online_violence score) with
the model at its default operating point (or `--profile`), and prints per perturbation:
texts changed, online_violence recall on the original vs the perturbed texts and the drop
in points, over all offensive texts, over the changed ones only, and over the changed ones
holding an insult word outside the model's phonetic map.

It does this twice: with the model's normaliser de-obfuscation (features/evasion.py)
switched on and off on the loaded model, so the table shows what normalisation buys. A
model trained before de-obfuscation existed runs "off" as trained and "on" as a
serving-side-only normalisation.

Perturbations (deterministic given --seed; each text gets its own random stream):
  separators       a separator from  ' * · | _ / .  in every gap between two Chinese characters
  full_width       every printable ASCII character → its full-width form, space → U+3000
  traditional      the whole text through OpenCC s2t
  pinyin_initials  each insult word found → its pinyin initials (傻逼 → sb)
  pinyin_full      each insult word found → its toneless pinyin, joined (傻逼 → shabi)
  homophones       each insult word found → every character that has one replaced by a
                   frequent character with the same toneless pinyin (one of the 5 most
                   frequent in jieba's dictionary, chosen at random)
  emoji            an emoji in every gap between the characters of each insult word found
  separator_class  a run of one or two symbols from a pool outside the separators above (~ … 、
                   丶 丨 ˉ ˇ, combining marks, stars, hearts, arrows, box drawing ...) in every gap
                   between two Chinese characters (issue 19)
  word_separators  one such run in every gap between the characters of each insult word found
                   (傻~逼, 恶、心): the disguise touches the insult only
  slang            each word of this file's SLANG list → its slang spelling (他妈的 → tmd,
                   你妈 → 尼玛, 垃圾 → 辣鸡, 智障 → zz, 脑残 → nc, 滚 → gun, 婊子 → 表子)
  mixed_pinyin     each insult word found → one of its characters, at random, written as its
                   toneless pinyin (恶心 → 恶xin, 去死 → qu死, 黑鬼 → 黑gui)

Insult words: ToxiCN's lexicon (<data-dir>/toxicn/lexicon/*.json) plus a short list of common
insults, terms of two or more Chinese characters only, found longest first without
overlap. Pinyin comes from pypinyin. Nothing here reads the normaliser's curated tables
(features/evasion.yaml, features/slang.yaml): SLANG is this file's own list, the forms
issue 19 names. The model's phonetic map (features/phonetic.py) is built at training from
the same ToxiCN lexicon, so the main table measures how well it covers the lexicon it
knows; two more figures say what happens beyond it:
  - "word outside map": the changed texts holding an insult word the map does not know;
  - "held-out insult words": the words split in two by a hash, a map built from one half
    swapped in for the model's, only the other half's words disguised.

Target (issues 5 and 19): each perturbation costs at most 3 points of recall on COLD offensive texts.

    .venv/bin/python benchmarks/bench_robustness.py --model runs/latest/bundle [--seed 0] [--json out.json]
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path

from _common import archive_titles, machine, parser, verdict, write_json

TARGET_POINTS = 3.0
CATEGORY = "online_violence"
# COLD's texts are Weibo and Zhihu comments; a title gets no online_violence score (issue 17).
KIND = "comment"
SEPARATORS = [" ", "*", "·", "|", "_", "/", "."]
EMOJI = ["😀", "😂", "🙂", "🌸", "🐶", "👍", "🔥", "❤️", "✨", "🤣", "😅", "🙄"]
COMMON_INSULTS = [
    "傻逼",
    "脑残",
    "智障",
    "垃圾",
    "废物",
    "弱智",
    "白痴",
    "贱人",
    "婊子",
    "畜生",
    "你妈",
    "他妈",
    "去死",
    "蠢货",
    "人渣",
    "杂种",
    "黑鬼",
    "死全家",
]
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_ALL_CJK = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")
# Separators outside SEPARATORS (issue 19): punctuation people do not write between the
# characters of a word, CJK strokes used as dots and bars, spacing tone marks, combining
# marks (they attach to the character before them), and symbols of every Unicode class.
SEPARATOR_CLASS = [
    "~", "…", "、", "丶", "丨", "ˉ", "ˇ", "ˊ", "\u0336", "\u0332", "\u0301", "\u20dd",
    "♡", "☆", "★", "°", "※", "¦", "‖", "∽", "♪", "→", "§", "〃", "╳", "¤", "≈", "√", "∞",
]  # fmt: skip
# Slang and abbreviated spellings (word → forms), this benchmark's own list: the forms issue
# 19 names. 滚 is replaced wherever it occurs, in 翻滚 too.
SLANG = {
    "他妈的": ["tmd"],
    "你妈": ["尼玛"],
    "垃圾": ["辣鸡"],
    "智障": ["zz"],
    "脑残": ["nc"],
    "滚": ["gun"],
    "婊子": ["表子"],
}
TRANSFORMS = [
    "separators",
    "full_width",
    "traditional",
    "pinyin_initials",
    "pinyin_full",
    "homophones",
    "emoji",
    "separator_class",
    "word_separators",
    "slang",
    "mixed_pinyin",
]


def _gb2312_level1(ch: str) -> bool:
    try:
        code = ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(code) == 2 and 0xB0A1 <= int.from_bytes(code, "big") <= 0xD7F9


def offensive_test_texts(data_dir: Path) -> list[str]:
    from qinglang.data.loaders import read_native

    frame = read_native("cold", data_dir).frame
    keep = (frame["split"] == "test") & frame["native"].map(lambda labels: "offensive" in labels)
    return frame.loc[keep, "text"].tolist()


def insult_words(data_dir: Path) -> list[str]:
    from qinglang.data.loaders.lexicons import read_lexicon

    folder = Path(data_dir) / "toxicn" / "lexicon"
    files = sorted(p.name for p in folder.glob("*.json"))
    terms = read_lexicon("toxicn_insults", files, data_dir) + COMMON_INSULTS
    return sorted({t for t in terms if len(t) >= 2 and _ALL_CJK.match(t)}, key=lambda t: (-len(t), t))


class Perturber:
    def __init__(self, insults: list[str], seed: int) -> None:
        import opencc
        from pypinyin import Style, lazy_pinyin

        self.seed = seed
        self._pinyin = lambda w: lazy_pinyin(w, style=Style.NORMAL, errors="ignore")
        self._initials = lambda w: lazy_pinyin(w, style=Style.FIRST_LETTER, errors="ignore")
        self._s2t = opencc.OpenCC("s2t")
        self._insult = re.compile("|".join(map(re.escape, insults)))
        self._slang = re.compile("|".join(map(re.escape, sorted(SLANG, key=len, reverse=True))))
        self._homophones = self._homophone_pool()

    def _homophone_pool(self) -> dict[str, list[str]]:
        """Toneless pinyin → the common characters (GB2312 level 1, the 3,755 most used
        simplified characters) with that reading, most frequent first by jieba's
        dictionary counts."""
        import jieba

        freq = {}
        with jieba.get_dict_file() as f:  # jieba's own dictionary, opened in binary mode
            for line in f.read().decode("utf-8").splitlines():
                parts = line.split()
                if len(parts) >= 2 and len(parts[0]) == 1 and _CJK.match(parts[0]):
                    freq[parts[0]] = int(parts[1])
        pool: dict[str, list[str]] = {}
        for ch in sorted(freq, key=lambda c: (-freq[c], c)):
            if _gb2312_level1(ch):
                pool.setdefault(self._pinyin(ch)[0], []).append(ch)
        return pool

    def rng(self, name: str, i: int) -> random.Random:
        return random.Random(f"{self.seed}/{name}/{i}")

    def insults_in(self, text: str) -> list[str]:
        return self._insult.findall(text)

    def _each_insult(self, text: str, fn) -> str:
        return self._insult.sub(lambda m: fn(m.group()), text)

    def separators(self, text: str, rng: random.Random) -> str:
        out = []
        for k, ch in enumerate(text):
            if k and _CJK.match(ch) and _CJK.match(text[k - 1]):
                out.append(rng.choice(SEPARATORS))
            out.append(ch)
        return "".join(out)

    def full_width(self, text: str, rng: random.Random) -> str:
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)

    def traditional(self, text: str, rng: random.Random) -> str:
        return self._s2t.convert(text)

    def pinyin_initials(self, text: str, rng: random.Random) -> str:
        return self._each_insult(text, lambda w: "".join(self._initials(w)))

    def pinyin_full(self, text: str, rng: random.Random) -> str:
        return self._each_insult(text, lambda w: "".join(self._pinyin(w)))

    def homophones(self, text: str, rng: random.Random) -> str:
        def one(word: str) -> str:
            readings = self._pinyin(word)
            if len(readings) != len(word):
                return word
            out = []
            for ch, py in zip(word, readings, strict=False):
                options = [c for c in self._homophones.get(py, []) if c != ch][:5]
                out.append(rng.choice(options) if options else ch)
            return "".join(out)

        return self._each_insult(text, one)

    def emoji(self, text: str, rng: random.Random) -> str:
        return self._each_insult(
            text, lambda w: "".join(ch + (rng.choice(EMOJI) if k < len(w) - 1 else "") for k, ch in enumerate(w))
        )

    @staticmethod
    def _symbol_run(rng: random.Random) -> str:
        return "".join(rng.choice(SEPARATOR_CLASS) for _ in range(1 if rng.random() < 0.75 else 2))

    def separator_class(self, text: str, rng: random.Random) -> str:
        out = []
        for k, ch in enumerate(text):
            if k and _CJK.match(ch) and _CJK.match(text[k - 1]):
                out.append(self._symbol_run(rng))
            out.append(ch)
        return "".join(out)

    def word_separators(self, text: str, rng: random.Random) -> str:
        return self._each_insult(
            text, lambda w: "".join(ch + (self._symbol_run(rng) if k < len(w) - 1 else "") for k, ch in enumerate(w))
        )

    def slang(self, text: str, rng: random.Random) -> str:
        return self._slang.sub(lambda m: rng.choice(SLANG[m.group()]), text)

    def mixed_pinyin(self, text: str, rng: random.Random) -> str:
        def one(word: str) -> str:
            readings = self._pinyin(word)
            if len(readings) != len(word):
                return word
            k = rng.randrange(len(word))
            return word[:k] + readings[k] + word[k + 1 :]

        return self._each_insult(text, one)

    def apply(self, name: str, texts: list[str]) -> list[str]:
        fn = getattr(self, name)
        return [fn(t, self.rng(name, i)) for i, t in enumerate(texts)]


def trained_with_deobfuscation(predictor) -> bool:
    normalizer = predictor.bundle.classifier.vectorizer_.named_steps["normalize"]
    return bool(getattr(normalizer, "deobfuscate", False))  # absent: pickled before the step existed


def phonetic_terms(predictor) -> frozenset[str]:
    """The terms the model's phonetic map (features/phonetic.py) restores; empty without one."""
    phonetic = getattr(predictor.bundle.classifier.vectorizer_.named_steps["normalize"], "phonetic", None)
    return phonetic.terms if phonetic is not None else frozenset()


def set_deobfuscation(predictor, on: bool) -> None:
    """Switch the loaded model's normaliser, and the compiled features built from it, on or off."""
    from qinglang.features.compiled import compile_features

    clf = predictor.bundle.classifier
    clf.vectorizer_.named_steps["normalize"].deobfuscate = on
    clf._compiled = compile_features(clf.vectorizer_)


def held_out_words(predictor, texts: list[str], insults: list[str], args, j: int) -> list[dict]:
    """The insult words split in two by a hash. A phonetic map built from half A only (with
    the same ordinary-use checks as training, on the archive) replaces the model's, and only
    half B's words are disguised: what the map gives for insults its lexicon lacks, next to
    the model's own map on the same texts."""
    import zlib

    import numpy as np

    from qinglang.features.compiled import compile_features
    from qinglang.features.normalize import normalize_text
    from qinglang.features.phonetic import PhoneticMap

    clf = predictor.bundle.classifier
    normalizer = clf.vectorizer_.named_steps["normalize"]
    own = normalizer.phonetic
    half_a = [w for w in insults if zlib.crc32(w.encode()) % 2 == 0]
    half_b = [w for w in insults if zlib.crc32(w.encode()) % 2 == 1]
    ordinary = [normalize_text(t) for t in archive_titles(args.data_dir, shuffle_seed=None)[0]]
    tokenizer = dict(clf.vectorizer_.named_steps["tfidf"].transformer_list)["word"].tokenizer
    map_a = PhoneticMap.build(half_a, ordinary, tokenizer.dictionary_frequencies(), normalize_text)
    perturber = Perturber(half_b, args.seed)
    rows = []
    for name in ("pinyin_initials", "pinyin_full", "homophones", "mixed_pinyin"):
        perturbed = perturber.apply(name, texts)
        ch = np.array([a != b for a, b in zip(texts, perturbed, strict=True)])
        row = {"transformation": name, "changed": int(ch.sum())}
        for label, phonetic in (("own_map", own), ("map_without_these_words", map_a)):
            normalizer.phonetic = phonetic
            clf._compiled = compile_features(clf.vectorizer_)
            base = predictor.scores([t for t, c in zip(texts, ch, strict=True) if c], args.profile, KIND)[1][:, j]
            flags = predictor.scores([t for t, c in zip(perturbed, ch, strict=True) if c], args.profile, KIND)[1][:, j]
            row[f"{label}_drop_points"] = drop_points(recall(base), recall(flags))
        rows.append(row)
    normalizer.phonetic = own
    clf._compiled = compile_features(clf.vectorizer_)
    title = f"Held-out insult words: {len(half_b)} words disguised, map built from the other {len(half_a)}; drop in points over changed texts"
    print(f"\n{title}\n{'-' * len(title)}")
    print(f"  {'transformation':<16} {'changed':>7}   {'own map':>8}   {'map without these words':>24}")
    for r in rows:
        print(
            f"  {r['transformation']:<16} {r['changed']:>7,}   {r['own_map_drop_points']:>8.1f}   {r['map_without_these_words_drop_points']:>24.1f}"
        )
    return rows


def recall(flags) -> float:
    return float(flags.mean()) if len(flags) else float("nan")


def drop_points(before: float, after: float) -> float:
    """Recall lost, in points; a difference of float rounding only is 0 (not -0.0)."""
    drop = 100 * (before - after)
    return 0.0 if abs(drop) < 1e-9 else drop


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seed", type=int, default=0, help="Seed of the perturbations (default 0).")
    p.add_argument("--profile", default=None, help="Operating point (default: the model's default).")
    args = p.parse_args()

    import numpy as np

    from qinglang.serve.predictor import Predictor

    started = time.perf_counter()
    texts = offensive_test_texts(args.data_dir)
    insults = insult_words(args.data_dir)
    perturber = Perturber(insults, args.seed)
    perturbed = {name: perturber.apply(name, texts) for name in TRANSFORMS}
    changed = {name: np.array([a != b for a, b in zip(texts, perturbed[name], strict=True)]) for name in TRANSFORMS}
    found = [set(perturber.insults_in(t)) for t in texts]
    print(
        f"{len(texts):,} COLD test offensive texts, {len(insults):,} insult words; perturbed in {time.perf_counter() - started:.1f} s"
    )

    predictor = Predictor.load(args.model)
    j = predictor.categories.index(CATEGORY)
    trained_with = trained_with_deobfuscation(predictor)
    mapped = phonetic_terms(predictor)
    uncovered = np.array([bool(words - mapped) for words in found])
    print(
        f"the model's phonetic map covers {len(mapped):,} lexicon terms; {int(uncovered.sum()):,} texts hold an insult word outside it"
    )
    figures = {
        "machine": machine(),
        "model": args.model,
        "seed": args.seed,
        "profile": args.profile or predictor.profiles[0],
        "category": CATEGORY,
        "kind": KIND,
        "n_texts": len(texts),
        "n_insult_words": len(insults),
        "target_points": TARGET_POINTS,
        "trained_with_deobfuscation": trained_with,
        "runs": {},
    }
    for on in (True, False):
        set_deobfuscation(predictor, on)
        label = "on" if on else "off"
        base = predictor.scores(texts, args.profile, KIND)[1][:, j]
        rows = []
        for name in TRANSFORMS:
            flags = predictor.scores(perturbed[name], args.profile, KIND)[1][:, j]
            ch = changed[name]
            row = {
                "transformation": name,
                "changed": int(ch.sum()),
                "recall_original": recall(base),
                "recall_perturbed": recall(flags),
                "changed_recall_original": recall(base[ch]),
                "changed_recall_perturbed": recall(flags[ch]),
            }
            row["drop_points"] = drop_points(row["recall_original"], row["recall_perturbed"])
            row["changed_drop_points"] = drop_points(row["changed_recall_original"], row["changed_recall_perturbed"])
            row["within_target"] = bool(row["drop_points"] <= TARGET_POINTS)
            outside = ch & uncovered
            row["changed_outside_map"] = int(outside.sum())
            row["outside_map_drop_points"] = (
                drop_points(recall(base[outside]), recall(flags[outside])) if outside.any() else None
            )
            lost = Counter(w for k in np.flatnonzero((base == 1) & (flags == 0)) for w in found[k])
            row["insult_words_in_lost_flags"] = dict(lost.most_common(10))
            rows.append(row)
        figures["runs"][label] = {"rows": rows}
        title = f"De-obfuscation {label.upper()} (model trained with it: {'yes' if trained_with else 'no'}), {CATEGORY} recall, profile {figures['profile']}"
        print(f"\n{title}\n{'-' * len(title)}")
        head = (
            f"  {'transformation':<16} {'changed':>7}  {'orig':>6} {'pert':>6} {'drop':>6}   {'changed only: orig':>18} {'pert':>6} {'drop':>6}"
            f"   {'word outside map: n':>19} {'drop':>6}   ≤{TARGET_POINTS:g} pts"
        )
        print(head)
        for r in rows:
            outside = "-" if r["outside_map_drop_points"] is None else f"{r['outside_map_drop_points']:.1f}"
            print(
                f"  {r['transformation']:<16} {r['changed']:>7,}  {r['recall_original']:>6.3f} {r['recall_perturbed']:>6.3f} {r['drop_points']:>6.1f}"
                f"   {r['changed_recall_original']:>18.3f} {r['changed_recall_perturbed']:>6.3f} {r['changed_drop_points']:>6.1f}"
                f"   {r['changed_outside_map']:>19,} {outside:>6}   {verdict(r['within_target'])}"
            )
        worst = max(rows, key=lambda r: r["drop_points"])
        if worst["insult_words_in_lost_flags"]:
            words = ", ".join(f"{w} {n}" for w, n in list(worst["insult_words_in_lost_flags"].items())[:6])
            print(f"  texts that lost their flag under {worst['transformation']} contain: {words}")
    set_deobfuscation(predictor, trained_with)
    if mapped:
        figures["held_out_words"] = held_out_words(predictor, texts, insults, args, j)
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
