"""The dictionary layer: words no hand-written list holds, read through two public lexical
resources before the sentence model has to guess.

- **WordNet 3.0** (Princeton; Debian's ``wordnet-base``, ``make wordnet``). A word takes a meaning
  only through a sense that WordNet files under the field's domain (a colour, a garment or bag, a
  fabric or leather), and only when that sense, its broader terms or its definition name a listed
  word: "vermilion" -> scarlet -> red, "huaraches" -> sandal, "polyester" -> "synthetic fabrics".
- **English word formation**: "reddish", "silky", "woolly", "rubberized" are a listed colour or
  material with a suffix; the stem is looked up in the hand-written lists (no resource needed).
- **The XKCD colour survey** (CC0; 949 names with the RGB most respondents gave them): a colour
  word takes the catalog colour nearest in CIELAB ("taupe" -> beige). Used for words WordNet knows
  as a colour, or does not know at all, so "dust" or "mud" before a dress state nothing.

Both answer precisely where they know a word and stay silent elsewhere; the sentence model
(``semantic``) reads what is left. Without the WordNet files the layer keeps only the colour table.
Why: all-MiniLM-L6-v2 places a lone word like "cerulean" nearest the right colour about one time
in five (measured on dev words); a dictionary knows.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multimodal.search.query import vocabulary as V
from multimodal.search.query.typos import stems

WORDNET_DIR = Path("/usr/share/wordnet")
XKCD_FILE = Path(__file__).with_name("data") / "xkcd_colours.tsv"
# Fields this layer may state, and the WordNet senses (by first lemma and gloss start) that root each domain.
DICTIONARY_FIELDS: tuple[str, ...] = ("colour", "category", "material")
_ROOTS: dict[str, tuple[tuple[str, str], ...]] = {
    "colour": (("color", "a visual attribute"),),
    "category": (("clothing", "a covering designed"), ("footwear", "clothing worn on"), ("footwear", "covering for a person"),
                 ("bag", "a flexible container"), ("bag", "a container used for carrying money")),
    "material": (("fabric", "artifact made by weaving"), ("leather", "an animal skin"), ("fiber", "a slender and greatly"),
                 ("fur", "the dressed hairy coat")),
}
# Things made of a domain's stuff, not kinds of it: a sail is a "piece of cloth", not a fabric.
_MADE_OF: dict[str, tuple[tuple[str, str], ...]] = {"material": (("piece of cloth", "a separate part consisting of fabric"),)}
# Fields read only through a word's main sense: "kids shoes" are no kid leather, "network" no mesh.
# Dev words: none lost (their fabric sense is first, or WordNet has no counts); dev false parses 16 -> 14.
_MAIN_SENSE_FIELDS: frozenset[str] = frozenset({"material"})
_POS = {"n": "noun", "a": "adj", "v": "verb"}
_SUFFIXES = {"n": (("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y"), ("s", "")),
             "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
             "v": (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("s", ""))}
_DERIVATIONAL_SUFFIXES = ("ish", "ized", "ised", "y", "en")
_DERIVED_FIELDS = ("colour", "material")
_MAX_DEPTH = 4  # broader terms climbed from a sense when looking for a listed word
# Lightness differences count half in the colour survey's nearest catalog colour, as in the textile
# industry's CMC l:c = 2:1: a pale green ("pistachio", "mint") is a green, not a cream. Dev colour
# words read right: 0.636 with plain CIELAB distance, 0.848 at 0.5 (0.788 at 0.7, 0.758 at 0.35).
LIGHTNESS_WEIGHT = 0.5


@dataclass(frozen=True)
class Sense:
    pos: str
    offset: int
    satellite: bool  # an adjective filed under a head adjective ("cerulean" under "chromatic")
    lemmas: tuple[str, ...]
    pointers: tuple[tuple[str, str, int], ...]  # (symbol, pos, offset)
    gloss: str


class WordNet:
    """Read-only access to WordNet 3.0's database files: senses of a word, their broader terms and glosses."""

    def __init__(self, root: Path = WORDNET_DIR) -> None:
        self.root = Path(root)
        self._files = {pos: open(self.root / f"data.{name}", "rb") for pos, name in _POS.items()}  # noqa: SIM115 - kept open: thousands of seeks
        self._lock = threading.Lock()  # the app and the API read from several threads; seek + read must not interleave

    @staticmethod
    def available(root: Path = WORDNET_DIR) -> bool:
        return all((Path(root) / f"{kind}.{name}").is_file() for name in _POS.values() for kind in ("index", "data"))

    def _index(self, pos: str) -> dict[str, tuple[int, ...]]:
        return self._read_index(pos)[0]

    @functools.cache  # noqa: B019 - one reader per process; the index is the point of caching
    def _read_index(self, pos: str) -> tuple[dict[str, tuple[int, ...]], set[int]]:
        """Each lemma's sense offsets, most frequent first, and the offsets that are a word's rare
        sense: not its first, while a corpus-tagged sense exists ("kid": the child, then the leather)."""
        out: dict[str, tuple[int, ...]] = {}
        rare: set[int] = set()
        with open(self.root / f"index.{_POS[pos]}", encoding="latin-1") as f:
            for line in f:
                if not line.startswith(" "):
                    parts = line.split()
                    n = int(parts[2])
                    out[parts[0]] = offsets = tuple(int(o) for o in parts[-n:])
                    if int(parts[-n - 1]) > 0:
                        rare.update(offsets[1:])
        return out, rare

    def is_rare_sense(self, sense: Sense, word: str) -> bool:
        """``sense`` is not the first (most frequent) sense of any form of ``word`` that WordNet has
        frequency counts for ("network" as a fabric, "kids" as leather)."""
        key = word.lower().strip().replace(" ", "_")
        index, rare = self._read_index(sense.pos)
        forms = [f for f in self.base_forms(key, sense.pos) if sense.offset in index[f]]
        return bool(forms) and sense.offset in rare and all(index[f][0] != sense.offset for f in forms)

    @functools.cache  # noqa: B019
    def _exceptions(self, pos: str) -> dict[str, tuple[str, ...]]:
        path = self.root / f"{_POS[pos]}.exc"
        if not path.is_file():
            return {}
        with open(path, encoding="latin-1") as f:
            return {p[0]: tuple(p[1:]) for p in (line.split() for line in f) if p}

    def base_forms(self, word: str, pos: str) -> list[str]:
        """The word and its dictionary forms (WordNet's morphy rules: "huaraches" -> "huarache")."""
        index = self._index(pos)
        forms = [word, *self._exceptions(pos).get(word, ())]
        forms += [word[: -len(end)] + new for end, new in _SUFFIXES[pos] if word.endswith(end) and len(word) > len(end) + 2]
        return [f for f in dict.fromkeys(forms) if f in index]

    def senses(self, word: str, pos_list: Iterable[str] = ("n", "a")) -> list[Sense]:
        key = word.lower().strip().replace(" ", "_")
        return [self.sense(pos, off) for pos in pos_list for base in self.base_forms(key, pos) for off in self._index(pos)[base]]

    @functools.lru_cache(maxsize=200_000)  # noqa: B019
    def sense(self, pos: str, offset: int) -> Sense:
        f = self._files[pos]
        with self._lock:
            f.seek(offset)
            line = f.readline()
        head, _, gloss = line.decode("latin-1").partition("|")
        p = head.split()
        n_words = int(p[3], 16)
        lemmas = tuple(re.sub(r"\(.*\)$", "", p[4 + 2 * i]).replace("_", " ").lower() for i in range(n_words))
        i = 4 + 2 * n_words
        pointers = tuple((p[i + 1 + 4 * k], p[i + 3 + 4 * k], int(p[i + 2 + 4 * k])) for k in range(int(p[i])))
        return Sense(pos, offset, p[2] == "s", lemmas, pointers, gloss.strip())

    def broader(self, sense: Sense) -> list[Sense]:
        """Hypernyms (and instance hypernyms) of a noun; the head adjective of a satellite adjective
        (a head's own "&" pointers lead down to its satellites, not up)."""
        symbols = ("@", "@i", "&") if sense.pos != "a" or sense.satellite else ("@", "@i")
        return [self.sense(pos, off) for sym, pos, off in sense.pointers if sym in symbols]

    def root_offsets(self, roots: tuple[tuple[str, str], ...]) -> set[int]:
        return {s.offset for lemma, gloss in roots for s in self.senses(lemma, ("n",)) if s.gloss.startswith(gloss)}


def _lab(hex_colour: str) -> np.ndarray:
    """sRGB hex -> CIELAB (D65): distances there follow how different colours look."""
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], np.float64) / 255
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@functools.cache
def colour_table() -> dict[str, str]:
    """XKCD colour name -> the catalog colour nearest to it in CIELAB."""
    names: dict[str, str] = {}
    for line in XKCD_FILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, hex_colour = line.split("\t")
            names[name] = hex_colour
    # Every listed name of a catalog colour that the survey knows is a prototype of it ("sky blue" and
    # "cobalt" for blue), so a light or dark shade finds its colour, not the nearest grey.
    prototypes = [(colour, _lab(names[word])) for word, colour in V.COLOUR_WORDS.items() if word in names]
    labels, points = [c for c, _ in prototypes], np.stack([p for _, p in prototypes])
    weights = np.array([LIGHTNESS_WEIGHT, 1.0, 1.0])
    return {name: labels[int(np.argmin(np.linalg.norm((points - _lab(h)) * weights, axis=1)))] for name, h in names.items()}


@functools.lru_cache(maxsize=1)
def shared_dictionary() -> DictionaryLayer:
    """One ``DictionaryLayer`` in a process (reading WordNet's shade names takes ~0.3-0.9 s): every
    engine loaded shares it and its cache of words looked up."""
    return DictionaryLayer()


class DictionaryLayer:
    """Meanings of unlisted words from WordNet and the colour survey (see the module docstring)."""

    def __init__(self, wordnet_dir: Path = WORDNET_DIR) -> None:
        self.wordnet = WordNet(wordnet_dir) if WordNet.available(wordnet_dir) else None
        self.colours = colour_table()
        self._roots: dict[str, set[int]] = {}
        self._made_of: dict[str, set[int]] = {}
        self._lexicon = {name: V.LEXICON[name] for name in DICTIONARY_FIELDS}
        self._cache: dict[tuple[str, frozenset[str]], tuple[str, tuple[str, ...]] | None] = {}
        self._shade_names()  # 0.3 s over WordNet's lemmas: here, not inside the first query that needs it

    def clear_cache(self) -> None:
        """Forget the words looked up before (a benchmark of queries whose words are all new)."""
        self._cache.clear()
        WordNet.sense.cache_clear()

    def meaning(self, word: str, fields: Iterable[str]) -> tuple[str, tuple[str, ...]] | None:
        """(field, values) that ``word`` states among ``fields``, or None when the resources are silent."""
        allowed = frozenset(fields) & set(DICTIONARY_FIELDS)
        key = (word.lower().strip(), allowed)
        if key not in self._cache:
            self._cache[key] = self._meaning(*key) if allowed and len(key[0]) > 2 else None
        return self._cache[key]

    def _meaning(self, word: str, allowed: frozenset[str]) -> tuple[str, tuple[str, ...]] | None:
        derived = self._derived(word, allowed)
        if derived:
            return derived
        senses = self.wordnet.senses(word) if self.wordnet else []
        for name in DICTIONARY_FIELDS:  # colour first: "cherry" before a dress is a colour, not a wood
            if name not in allowed:
                continue
            domain = [s for s in senses if self._in_domain(s, name)]
            if name in _MAIN_SENSE_FIELDS:
                domain = [s for s in domain if not self.wordnet.is_rare_sense(s, word)]
            # A survey name is a colour when the dictionary agrees, knows no other sense, or the
            # position allows only a colour ("mulberry coloured"): otherwise "sand" or "dust" would be.
            if name == "colour" and word in self.colours and (domain or not senses or allowed == {"colour"}
                                                              or self._described_by_colour(senses)):
                return name, (self.colours[word],)
            for sense in domain:
                values = self._listed(sense, name, word)
                if values:
                    return name, values
        return None

    def _derived(self, word: str, allowed: frozenset[str]) -> tuple[str, tuple[str, ...]] | None:
        """A listed colour or material word plus a derivational suffix: "reddish", "bluish", "silky",
        "woolly", "rubberized" (a doubled final consonant undoubled, a dropped "e" restored)."""
        for base in stems(word, _DERIVATIONAL_SUFFIXES):
            for name in _DERIVED_FIELDS:
                values = self._lexicon[name].get(base) if name in allowed else None
                if values:
                    return name, tuple(values)
        return None

    def likely_colour(self, word: str) -> str | None:
        """The catalog colour a word probably names, for the soft signal only (a guess, never a
        filter): the colour of the shade names it forms ("coal-black", "snow-white", "army green"),
        else its own colour-survey colour, else a colour its main sense's definition names
        ("raven: large black bird"). Dev colour queries with unseen words: 0.51 -> 0.65 (0.61 from
        the shade names alone); as a filter these would read "ocean" or "sun" before a dress as a colour."""
        key = word.lower().strip()
        shades = self._shade_names().get(key, set())
        if len(shades) == 1:
            return next(iter(shades))
        if key in self.colours:
            return self.colours[key]
        if self.wordnet is not None:
            for sense in self.wordnet.senses(key, ("n",))[:1]:
                for token in re.findall(r"[a-z]+", sense.gloss.split(";")[0].lower()):
                    if token in V.COLOUR_WORDS:
                        return V.COLOUR_WORDS[token]
        return None

    def likely_style(self, word: str) -> str | None:
        """The style a word probably names, for the soft signal only: a listed style word among the
        synonyms of its first two senses, or in their definitions ("classy: elegant and fashionable").
        Measured on dev style words: docs/decisions.md."""
        if self.wordnet is None:
            return None
        lexicon, key = V.LEXICON["style"], word.lower().strip()
        for sense in self.wordnet.senses(key, ("a", "n"))[:2]:
            for lemma in sense.lemmas:
                if lemma != key and len(lexicon.get(lemma, ())) == 1:
                    return lexicon[lemma][0]
            if named := _named_in_definition(sense, "style", lambda values: len(values) == 1):
                return named[0]
        return None

    def is_shade_name(self, first: str, colour_word: str) -> bool:
        """``first colour_word`` is a shade name of WordNet or the colour survey ("snow white", "army
        green", "hot pink"): the first word says which shade, not a season or a material."""
        return (first.lower().strip(), colour_word.lower().strip()) in self._shade_pairs()

    @functools.cache  # noqa: B019 - one table per layer
    def _shade_pairs(self) -> dict[tuple[str, str], str]:
        """(word, colour word) -> catalog colour (the survey's, where it has the name), for the two-word
        shade names of WordNet ("coal-black", "ash-grey") and of the colour survey ("army green") whose
        first word is no colour itself."""
        out: dict[tuple[str, str], str] = {}
        lemmas = [*self.wordnet._index("a"), *self.wordnet._index("n")] if self.wordnet else []
        pairs = [re.split(r"[-_]", lemma) for lemma in lemmas] + [name.split(" ") for name in self.colours]
        for parts in pairs:
            if len(parts) == 2 and parts[1] in V.COLOUR_WORDS and parts[0] not in V.COLOUR_WORDS:
                out[(parts[0], parts[1])] = self.colours.get(" ".join(parts), V.COLOUR_WORDS[parts[1]])
        return out

    @functools.cache  # noqa: B019
    def _shade_names(self) -> dict[str, set[str]]:
        """First word -> catalog colours of the shade names it starts ("coal" -> black)."""
        out: dict[str, set[str]] = {}
        for (first, _), colour in self._shade_pairs().items():
            out.setdefault(first, set()).add(colour)
        return out

    def descriptions(self, word: str, max_senses: int = 3, only: Sequence[str] = ()) -> list[str]:
        """Short definitions of the word's first senses ("chic: stylish; elegant and stylish"), for the
        sentence model to compare with attribute values; empty without WordNet. ``only``: the senses
        whose definition begins so, however far down the list (the fashion sense of "retro")."""
        if self.wordnet is None:
            return []
        out = []
        for pos in ("n", "a", "v"):
            senses = self.wordnet.senses(word.lower().strip(), (pos,))
            chosen = [s for s in senses if s.gloss.startswith(tuple(only))] if only else senses[:max_senses]
            for sense in chosen:
                synonyms = [x for x in sense.lemmas if x != word][:3]
                gloss = sense.gloss.split(";")[0].split('"')[0].strip()
                out.append(f"{word}: {', '.join(synonyms)}; {gloss}" if synonyms else f"{word}: {gloss}")
        return out

    def _described_by_colour(self, senses: list[Sense]) -> bool:
        """A survey colour name the dictionary describes by its colour ("tomato: ... red ... fruit"), unlike "dust"."""
        return any(re.search(rf"\b{re.escape(c)}\b", s.gloss.split(";")[0].lower()) for s in senses for c in V.COLOURS)

    def likely_category(self, word: str) -> tuple[str, ...] | None:
        """The categories a garment word probably names where it names no single one, for the soft
        signal only: "loafers" (a low leather step-in shoe) -> sneakers, sandals, ankle boots. A
        garment sense (not a rare one) whose synonyms, broader terms or definition name a listed
        group of at most three categories; "clothing" names too many to say anything."""
        if self.wordnet is None:
            return None
        key = word.lower().strip()
        for sense in self.wordnet.senses(key, ("n",)):
            if self._in_domain(sense, "category") and not self.wordnet.is_rare_sense(sense, key):
                values = self._listed(sense, "category", key, accept=lambda found: len(found) <= 3)
                if values:
                    return values
        return None

    def _in_domain(self, sense: Sense, name: str) -> bool:
        if self.wordnet is None:
            return False
        if name not in self._roots:
            self._roots[name] = self.wordnet.root_offsets(_ROOTS[name])
        if sense.pos == "a":  # an adjective is a colour when WordNet files it as similar to "chromatic" or "achromatic"
            heads = self.wordnet.broader(sense)
            return name == "colour" and any({"chromatic", "achromatic"} & set(h.lemmas) for h in heads)
        if name not in self._made_of:
            self._made_of[name] = self.wordnet.root_offsets(_MADE_OF.get(name, ()))
        frontier, seen = [sense], set()
        for _ in range(12):
            if any(s.offset in self._made_of[name] for s in frontier):
                return False
            if any(s.offset in self._roots[name] for s in frontier):
                return True
            frontier = [b for s in frontier for b in self.wordnet.broader(s) if b.offset not in seen]
            seen.update(s.offset for s in frontier)
            if not frontier:
                return False
        return False

    def _listed(self, sense: Sense, name: str, word: str,
                accept: Callable[[tuple[str, ...]], bool] | None = None) -> tuple[str, ...] | None:
        """The first listed word among the sense's synonyms, then its broader terms, then its gloss,
        whose values ``accept`` takes (by default: one category, any other field's values)."""
        assert self.wordnet is not None
        lexicon = self._lexicon[name]
        accept = accept or (lambda values: self._specific(name, values))
        frontier = [sense]
        for _ in range(_MAX_DEPTH + 1):
            for s in frontier:
                for lemma in s.lemmas:
                    if lemma != word and lemma in lexicon and accept(tuple(lexicon[lemma])):
                        return tuple(lexicon[lemma])
            frontier = [b for s in frontier for b in self.wordnet.broader(s)]
            if not frontier:
                break
        return _named_in_definition(sense, name, accept)

    @staticmethod
    def _specific(name: str, values: tuple[str, ...]) -> bool:
        """A broader term like "clothing" names a group, not what a particular garment is; a colour
        family ("neutral", which WordNet files black and white under) is no one colour either."""
        return name not in ("category", "colour") or len(values) == 1


@functools.cache
def _longest_first(name: str) -> tuple[str, ...]:
    return tuple(sorted(V.LEXICON[name], key=len, reverse=True))


def _named_in_definition(sense: Sense, name: str, accept: Callable[[tuple[str, ...]], bool]) -> tuple[str, ...] | None:
    """The values of the first listed phrase of field ``name`` (longest first, so "faux leather"
    before "leather") that the sense's main definition contains and ``accept`` takes."""
    gloss = sense.gloss.split(";")[0].lower()
    lexicon = V.LEXICON[name]
    for phrase in _longest_first(name):
        if accept(lexicon[phrase]) and re.search(rf"\b{re.escape(phrase)}\b", gloss):
            return tuple(lexicon[phrase])
    return None
