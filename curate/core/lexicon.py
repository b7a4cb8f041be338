"""Profanity word-list hits, a feature token for fastText classifiers.

A bag of word n-grams knows only the words its training sets spell. A word list names slurs and
profanity those sets never used, and their usual disguises (``sh1t``, ``a$$``, ``f*ck``,
``fuuuck``). ``curate train-classifier --lexicon`` appends one ``__profanity__`` token per hit
(at most three per line) to each training line, and the model learns from its labeled data what
a hit is worth. A model whose vocabulary holds the token gets the same feature when it scores
(``curate.core.classifier.uses_lexicon``): the model file says how it was trained, and one
trained without the feature is scored as before.

The list is better-profanity's (MIT, 900 entries; a pinned dependency, since a model learned
its hits), read from the installed package's data file without importing the package (its
import builds a 5 MB table of spelling variants not used here), less the words that name a
subject rather than insult (``NAMING``). Measured in BENCHMARKS.md, "Toxicity across platforms".
"""

from __future__ import annotations

import importlib.util
import os
import re
from functools import cache

FEATURE = "__profanity__"
MAX_HITS = 3  # per line: a rant of slurs is as toxic as one, and a count is not a length
CACHE_SIZE = 1 << 20  # tokens remembered (Zipf: most tokens of a text were seen before)
_LEET = str.maketrans("013457@$!", "oieastasi")
_PART = re.compile(r"[\w@$!*]+")  # a word with its disguises, out of surrounding punctuation
_REPEAT = re.compile(r"([^\W\d_])\1{2,}")  # "fuuuck" -> "fuck" (no English word has 3 alike)


# Words of the list that clean text uses to name things, not to insult: by this project's
# definition (docs/filters.md) a page about sex, drugs, crime, religion or a group is not toxic.
# Left out of the feature, by meaning, so that the feature marks profanity, slurs and sexual
# slang only (a first version with them removed 1.7-6.2% of clean pages, on "meth", "sex").
NAMING = frozenset(
    # anatomy, health
    "anal anus areole breasts clitoris crotch ejaculate ejaculated ejaculates ejaculating "
    "ejaculation erect erection foreskin glans gonad gonads herpes hiv hymen labia loin loins "
    "menses menstruate menstruation nipple nipples oral orally organ ovary ovum ovums "
    "penetrate penetration penial penile penis phalli phallic pms pubic pubis rectal rectum "
    "rectus scrotum semen sperm tampon teste testes testical testicle testis urinal urine "
    "uterus vagina vomit vulva womb "
    # sex as a subject
    "bdsm bestial bestiality bondage erotic erotism fondle homoerotic horny incest kinky lust "
    "lusting lusty masochist masturbate masturbating masturbation molest naked nude nudes "
    "orgasm orgasmic orgasms orgies orgy panties pantie panty pedophile pedophilia pedophiliac "
    "perversion playboy porn porno pornography pornos prostitute racy sadism sadist scantily "
    "seduce sex sexual steamy strip stripclub threesome transsexual undies virgin voyeur "
    # groups, history
    "arian aryan gay gays guido hitler klan lesbians massa nazi nazism negro paddy queer queers "
    "reich "
    # drugs, alcohol
    "drunk extacy extasy ganja hemp heroin hooch hookah hootch junkie junky meth opiate opium "
    "pcp peyote pot reefer rum skag scag souse soused stoned toke valium viagra vodka weed "
    # violence, crime
    "kill murder napalm rape raped raper raping rapist slave sniper snuff uzi "
    # religion
    "god hell heii sodom "
    # everyday senses, names, a sign-off ("xx")
    "cowgirl cowgirls dummy facial fanny fat flange foobar fubar gae gai hooker hump humped "
    "humping jerk jerked knob len lube maxi nappy niggle nob omg pasty pastie pawn pee revue "
    "sandbar screw screwed screwing seaman seamen sob stroke suck sucked sucking thrust ugly "
    "wad wang woody xx".split()
)


@cache
def _lists() -> tuple[frozenset[str], dict[int, list[str]]]:
    """(the list's words but ``NAMING``, the same by length). A multi-word entry is kept with
    its words run together ("blow job": "blowjob", which the list also spells so)."""
    spec = importlib.util.find_spec("better_profanity")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the profanity lexicon needs better-profanity (pip install curate)")
    path = os.path.join(spec.submodule_search_locations[0], "profanity_wordlist.txt")
    with open(path, encoding="utf-8") as f:
        entries = {re.sub(r"[\s._-]", "", line.lower()).translate(_LEET) for line in f}
    words = frozenset(entries - NAMING - {""})
    by_length: dict[int, list[str]] = {}
    for w in words:
        by_length.setdefault(len(w), []).append(w)
    return words, by_length


def _spellings(part: str) -> tuple[str, str]:
    """A word as the list may spell it: ``1`` ``3`` ``@`` ``$`` ``!`` as the letters they
    stand for (``*`` stays: a wildcard), then also with a run of one letter cut to one
    ("fuuuck"; the list has "kkk" and "xxx" as they are)."""
    w = part.strip("!").translate(_LEET)
    return w, _REPEAT.sub(r"\1", w)


def _token_hits(token: str) -> int:
    """Hits in one lowercased whitespace-separated token: none in a part of a word
    ("class", "title") or in a number ("455" is not "ass")."""
    words, by_length = _lists()
    n = 0
    for part in _PART.findall(token):
        if not any(c.isalpha() for c in part):
            continue
        w, short = _spellings(part)
        if w in words or short in words:
            n += 1
        elif "*" in w and w[0] != "*" and len(w) > 2:  # f*ck, f**k, sh*t
            star = re.compile(re.escape(w).replace(r"\*", "."))
            n += any(star.fullmatch(x) for x in by_length.get(len(w), ()))
    return n


class _Verdicts:
    """Which tokens hit, remembered per process: the tokens never seen are found by one set
    difference and judged once each (Zipf: few per text once warm), and a text without a hit
    is told by one ``isdisjoint``, both in C."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.hitting: dict[str, int] = {}  # tokens with hits, and how many

    def learn(self, tokens: set[str]) -> None:
        new = tokens - self.seen
        if len(self.seen) + len(new) > CACHE_SIZE:
            self.seen.clear()
            self.hitting.clear()
            new = tokens
        for t in new:
            n = _token_hits(t)
            if n:
                self.hitting[t] = n
        self.seen |= new


_verdicts = _Verdicts()


def hits_per_line(lines: list[str]) -> dict[int, int]:
    """Hits per line of lowercased ``lines`` (fastText's prepared lines will do: the tokens
    they drop hold no letter), lines without any left out."""
    tokens = set(" ".join(lines).split())
    _verdicts.learn(tokens)
    hitting = _verdicts.hitting
    if hitting.keys().isdisjoint(tokens):
        return {}  # most texts
    out: dict[int, int] = {}
    for i, line in enumerate(lines):
        n = sum(hitting.get(t, 0) for t in line.split())
        if n:
            out[i] = n
    return out


def with_feature(prepared: list[str]) -> list[str]:
    """fastText's ``prepared`` lines with the feature token appended once per hit, at most
    ``MAX_HITS``; empty lines stay empty."""
    hits = hits_per_line(prepared)
    if not hits:
        return prepared
    out = list(prepared)
    for i, n in hits.items():
        out[i] += (" " + FEATURE) * min(n, MAX_HITS)
    return out
