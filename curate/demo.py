"""A realistic, seeded demo corpus with planted problems and planted drift.

Everything planted is listed in ``ground_truth.json`` so that tests (and later stages: near-dup,
language ID, toxicity, PII, drift) can check the build against it. See the README, "Demo corpus".
"""

from __future__ import annotations

import gzip
import io
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import zstandard

START = datetime(2016, 1, 1, tzinfo=timezone.utc)
END = datetime(2024, 1, 1, tzinfo=timezone.utc)

# topic -> (words, activity (start, peak, end) as fractional years; None = always active)
TOPICS: dict[str, tuple[list[str], tuple[float, float, float] | None]] = {
    "city": (
        [
            "council",
            "budget",
            "library",
            "park",
            "mayor",
            "residents",
            "zoning",
            "bridge",
            "housing",
            "traffic",
            "neighborhood",
            "transit",
        ],
        None,
    ),
    "sports": (
        [
            "season",
            "coach",
            "league",
            "playoffs",
            "stadium",
            "striker",
            "goalkeeper",
            "championship",
            "tournament",
            "roster",
            "fans",
            "referee",
        ],
        None,
    ),
    "science": (
        [
            "researchers",
            "telescope",
            "experiment",
            "molecules",
            "climate",
            "glacier",
            "satellite",
            "genome",
            "laboratory",
            "samples",
            "fossils",
            "observatory",
        ],
        None,
    ),
    "cooking": (
        [
            "recipe",
            "oven",
            "flour",
            "garlic",
            "simmer",
            "butter",
            "harvest",
            "orchard",
            "kitchen",
            "spices",
            "bakery",
            "sourdough",
        ],
        None,
    ),
    "blockchain": (
        [
            "blockchain",
            "cryptocurrency",
            "bitcoin",
            "ledger",
            "tokens",
            "mining",
            "exchange",
            "wallet",
        ],
        (2017.3, 2018.0, 2019.5),
    ),
    "scooters": (
        ["scooters", "dockless", "sidewalk", "rideshare", "helmets", "micromobility"],
        (2018.2, 2018.9, 2020.2),
    ),
    "pandemic": (
        [
            "pandemic",
            "covid",
            "lockdown",
            "vaccine",
            "quarantine",
            "masks",
            "distancing",
            "outbreak",
        ],
        (2020.15, 2020.5, 2022.6),
    ),
    "remote": (
        ["remote", "videoconference", "hybrid", "commute", "coworking", "telework"],
        (2020.2, 2021.0, 2024.0),
    ),
    "chatbots": (
        ["chatbot", "chatgpt", "prompts", "transformer", "hallucination", "generative"],
        (2022.9, 2023.8, 2024.0),
    ),
}
# words that first appear with their topic: (word, first allowed year fraction)
EVENTS = {
    "covid": 2020.15,
    "lockdown": 2020.2,
    "chatgpt": 2022.92,
    "dockless": 2018.2,
    "bitcoin": 2017.3,
    "telework": 2020.2,
}

SUBJECTS = [
    "The city",
    "A local group",
    "The committee",
    "Our reporter",
    "The team",
    "Officials",
    "A spokesperson",
    "The new study",
    "Many people",
    "The organizers",
    "Volunteers",
    "The school board",
    "Critics",
    "Supporters",
    "The company",
    "Experts",
]
VERBS = [
    "announced",
    "discussed",
    "reviewed",
    "described",
    "questioned",
    "welcomed",
    "planned",
    "reported",
    "explained",
    "considered",
    "approved",
    "delayed",
    "examined",
    "praised",
]
ADJS = [
    "new",
    "annual",
    "local",
    "recent",
    "major",
    "small",
    "public",
    "careful",
    "early",
    "detailed",
    "popular",
    "unusual",
    "long",
    "quiet",
    "regional",
    "final",
]
CONNECT = ["because", "although", "while", "after", "before", "since", "and", "but"]
CLAUSES = [
    "the weather was cold",
    "the meeting ran late",
    "the results were clear",
    "many questions remained open",
    "the plan had broad support",
    "costs kept rising",
    "the numbers surprised everyone",
    "people wanted more time",
    "the data was limited",
    "the schedule changed twice",
    "nobody expected such a turnout",
]

FOREIGN = {
    "de": [
        "Die Stadt hat heute den neuen Haushalt vorgestellt.",
        "Viele Bürger waren mit dem Plan nicht zufrieden.",
        "Der Bürgermeister sprach über die Zukunft des Verkehrs.",
        "Im Sommer wird die Brücke renoviert.",
        "Die Schule bekommt eine neue Bibliothek.",
        "Nach der Sitzung blieben viele Fragen offen.",
    ],
    "fr": [
        "La ville a présenté aujourd'hui son nouveau budget.",
        "Beaucoup d'habitants n'étaient pas satisfaits du projet.",
        "Le maire a parlé de l'avenir des transports.",
        "Le pont sera rénové pendant l'été.",
        "L'école recevra une nouvelle bibliothèque.",
        "Après la réunion, de nombreuses questions restaient ouvertes.",
    ],
    "es": [
        "La ciudad presentó hoy su nuevo presupuesto.",
        "Muchos vecinos no estaban contentos con el plan.",
        "El alcalde habló sobre el futuro del transporte.",
        "El puente será renovado durante el verano.",
        "La escuela recibirá una nueva biblioteca.",
        "Después de la reunión quedaron muchas preguntas abiertas.",
    ],
    "zh": [
        "市政府今天公布了新的预算。",
        "许多居民对这个计划并不满意。",
        "市长谈到了交通的未来。",
        "这座桥将在夏天进行翻修。",
        "学校将有一个新的图书馆。",
        "会议结束后仍有许多问题没有解决。",
    ],
}
# abusive comment lines of the kind real toxicity data labels (profanity, no slurs)
TOXIC_LINES = [
    "Shut the fuck up, you worthless bitch.",
    "You are a fucking idiot and everyone here hates you.",
    "Go to hell, you stupid ass clown.",
]
BOILERPLATE = [
    "Home | About | Contact | Privacy",
    "Accept cookies",
    "Subscribe to our newsletter",
    "Share this: Facebook Twitter Email",
    "Copyright 2019 All rights reserved",
    "Click here to read more",
    "Login | Register",
    "Related posts",
]


def _year_frac(dt: datetime) -> float:
    return dt.year + (dt.timetuple().tm_yday - 1) / 366


def _activity(window: tuple[float, float, float] | None, t: float) -> float:
    if window is None:
        return 1.0
    start, peak, end = window
    if t < start or t >= end:
        return 0.0
    return 3.0 * (
        (t - start) / (peak - start) if t < peak else 1.0 - 0.7 * (t - peak) / (end - peak)
    )


class _Writer:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def sentence(self, words: list[str], t: float, form: int | None = None) -> str:
        r = self.rng
        allowed = [w for w in words if EVENTS.get(w, 0) <= t]
        w1, w2 = r.choice(allowed), r.choice(allowed)
        subj, verb, adj = r.choice(SUBJECTS), r.choice(VERBS), r.choice(ADJS)
        conn, clause = r.choice(CONNECT), r.choice(CLAUSES)
        day = r.choice(["Monday", "Friday", "Tuesday", "Sunday", "Wednesday"])
        theme = r.choice(["trust", "money", "time", "safety", "fairness", "jobs"])
        n = r.randint(3, 40)
        forms = [
            f"{subj} {verb} the {adj} {w1} plan on {day}, {conn} {clause}.",
            f"According to the {adj} report, the {w1} and the {w2} are now in the same debate.",
            f"{subj} said that the {w1} would have to wait {conn} {clause}.",
            f"For many residents, the question of the {w1} is about {theme} and the {w2}.",
            f"It was the {adj} {w2} that {verb} the debate, {conn} {clause}.",
            f"Nobody expected the {w1} to matter this much, yet {clause}.",
            f"Critics argue the {adj} {w2} costs too much {theme}.",
            f"{n} people wrote letters about the {w1} within a week.",
            f"On {day} {subj.lower()} {verb} a draft that mentions the {w2} twice.",
            f"Supporters of the {w1} point to {theme} first.",
            f"Last year the {w2} looked {adj}; this year {clause}.",
            f"Some asked whether the {w1} was worth it {conn} {clause}.",
            f"In short, the {w1} is {adj} news for {theme}.",
            f"A spokesperson declined to say when the {w2} would return.",
            f"{subj} has {verb} similar {w1} proposals {n} times before.",
            f"Residents near the {w2} described it as {adj} but necessary.",
            f"Few details about the {w1} were public until {day}.",
            f"The {adj} debate over the {w2} is likely to continue.",
            f"What happens to the {w1} now depends on {theme} {conn} {clause}.",
            f"Questions about the {w2} dominated the {adj} session.",
        ]
        return forms[form if form is not None else r.randrange(len(forms))]

    def article(self, topic: str, t: float) -> str:
        """A few paragraphs whose sentences all use different templates, as a real article
        does not repeat its phrasing (Gopher's repetition rules would rightly catch that)."""
        words = TOPICS[topic][0]
        forms = self.rng.sample(range(20), self.rng.randint(10, 18))
        sizes = []
        while sum(sizes) < len(forms):
            sizes.append(self.rng.randint(3, 6))
        paras, i = [], 0
        for size in sizes:
            paras.append(" ".join(self.sentence(words, t, f) for f in forms[i : i + size]))
            i += size
        return "\n\n".join(p for p in paras if p)


def _pick_topic(rng: random.Random, t: float) -> str:
    names = list(TOPICS)
    weights = [_activity(TOPICS[n][1], t) for n in names]
    return rng.choices(names, weights=weights)[0]


def generate(
    out_dir: str | Path, n_docs: int = 6000, seed: int = 0, huge_doc_bytes: int = 2_500_000
) -> dict:
    """Write the demo corpus under ``out_dir/raw`` and ``out_dir/ground_truth.json``."""
    rng = random.Random(seed)
    out = Path(out_dir)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    w = _Writer(rng)
    span = (END - START).total_seconds()
    truth: dict[str, list] = {
        k: []
        for k in (
            "clean",
            "exact_duplicates",
            "near_duplicates",
            "low_quality_boilerplate",
            "low_quality_repetition",
            "low_quality_word_salad",
            "foreign",
            "toxic_lines",
            "pii",
        )
    }
    truth_pairs: dict[str, list] = {"exact_duplicates": [], "near_duplicates": []}
    docs = []
    for i in range(n_docs):
        when = START + timedelta(seconds=rng.random() * span)
        t = _year_frac(when)
        doc = {
            "id": f"doc-{i:06d}",
            "text": w.article(_pick_topic(rng, t), t),
            "timestamp": when.isoformat(),
            "source": rng.choice(["news", "blog", "forum"]),
            "url": f"https://example.{rng.choice(['com', 'org', 'net'])}/{i}",
        }
        kind = rng.random()
        if kind < 0.04:
            doc["text"] = "\n".join(rng.sample(BOILERPLATE, 5))
            truth["low_quality_boilerplate"].append(doc["id"])
        elif kind < 0.07:
            line = w.sentence(TOPICS["city"][0], t)
            doc["text"] = "\n".join([line] * rng.randint(20, 40))
            truth["low_quality_repetition"].append(doc["id"])
        elif kind < 0.10:
            vocab = [x for ws, _ in TOPICS.values() for x in ws] + ADJS + VERBS
            doc["text"] = " ".join(rng.choice(vocab) for _ in range(rng.randint(80, 200)))
            truth["low_quality_word_salad"].append(doc["id"])
        elif kind < 0.14:
            lang = rng.choice(sorted(FOREIGN))
            doc["text"] = "\n\n".join(" ".join(rng.choices(FOREIGN[lang], k=5)) for _ in range(4))
            doc["lang"] = lang
            truth["foreign"].append(doc["id"])
        elif kind < 0.17:
            paras = doc["text"].split("\n\n")
            paras.insert(rng.randint(0, len(paras)), rng.choice(TOXIC_LINES))
            doc["text"] = "\n\n".join(paras)
            truth["toxic_lines"].append(doc["id"])
        elif kind < 0.20:
            user = rng.choice(["jane.doe", "m.smith", "info", "press"])
            phone = rng.choice(
                ["+1 415 555 0132", "(212) 555-0187", "+44 20 7946 0958", "+49 30 901820"]
            )
            doc["text"] += f"\n\nFor questions, write to {user}@example.org or call {phone}."
            truth["pii"].append(doc["id"])
        else:
            truth["clean"].append(doc["id"])
        docs.append(doc)
    # Planted copies, always later than their original.
    originals = [d for d in docs if d["id"] in set(truth["clean"])]
    for j, orig in enumerate(rng.sample(originals, max(1, n_docs // 40))):
        later = datetime.fromisoformat(orig["timestamp"]) + timedelta(days=rng.randint(1, 400))
        later = min(later, END - timedelta(seconds=1))
        copy = dict(orig, id=f"dup-{j:05d}", timestamp=later.isoformat())
        copy["text"] = orig["text"].replace("\n\n", "  \r\n\r\n\r\n") + "  "  # normalizes equal
        docs.append(copy)
        truth["exact_duplicates"].append(copy["id"])
        truth_pairs["exact_duplicates"].append([orig["id"], copy["id"]])
    for j, orig in enumerate(rng.sample(originals, max(1, n_docs // 40))):
        words = orig["text"].split(" ")
        for k in rng.sample(range(len(words)), max(1, len(words) // 50)):
            words[k] = rng.choice(ADJS)
        later = datetime.fromisoformat(orig["timestamp"]) + timedelta(days=rng.randint(1, 400))
        near = dict(
            orig,
            id=f"near-{j:05d}",
            text=" ".join(words),
            timestamp=min(later, END - timedelta(seconds=1)).isoformat(),
        )
        if near["text"] != orig["text"]:
            docs.append(near)
            truth["near_duplicates"].append(near["id"])
            truth_pairs["near_duplicates"].append([orig["id"], near["id"]])
    rng.shuffle(docs)
    filler = []  # readable part of a truncated file: not in any planted list
    for i in range(max(10, n_docs // 50)):
        when = START + timedelta(seconds=rng.random() * span)
        t = _year_frac(when)
        filler.append(
            {
                "id": f"trunc-{i:05d}",
                "text": w.article(_pick_topic(rng, t), t),
                "timestamp": when.isoformat(),
            }
        )
    broken = _write_files(raw, docs, filler, huge_doc_bytes)
    gt = {
        "seed": seed,
        "documents": len(docs),
        "span": [START.isoformat(), END.isoformat()],
        "planted": truth,
        "pairs": truth_pairs,
        "broken": broken,
        "broken_total": sum(broken.values()),
        "topics": {k: v[1] for k, v in TOPICS.items()},
        "events": EVENTS,
    }
    (out / "ground_truth.json").write_text(json.dumps(gt, indent=1) + "\n")
    return gt


def _dumps(doc: dict) -> bytes:
    return (json.dumps(doc, ensure_ascii=False) + "\n").encode()


def _write_files(
    raw: Path, docs: list[dict], filler: list[dict], huge_doc_bytes: int
) -> dict[str, int]:
    """Spread docs over plain, gzip, zstd and Parquet files and plant broken records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(docs)
    cuts = [0, n * 4 // 10, n * 6 // 10, n * 8 // 10, n]
    parts = [docs[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    broken_lines = [
        ("invalid_json", b'{"id": "bad-json", "text": "unterminated\n'),
        (
            "invalid_utf8",
            b'{"id": "bad-utf8", "text": "caf\xe9 \xff\xfe", "timestamp": "2019-01-01"}\n',
        ),
        ("not_an_object", b'["a", "json", "array"]\n'),
        ("bad_type", b'{"id": "bad-type", "text": 12345, "timestamp": "2019-01-01"}\n'),
        ("missing_text", b'{"id": "no-text", "body": "wrong field", "timestamp": "2019-01-01"}\n'),
        ("timestamp_missing", b'{"id": "no-time", "text": "A document without any time."}\n'),
        (
            "timestamp_unparseable",
            b'{"id": "bad-time", "text": "Bad time.", "timestamp": "last Tuesday"}\n',
        ),
        (
            "timestamp_out_of_range",
            b'{"id": "future", "text": "From the future.", "timestamp": "9999-12-31T00:00:00Z"}\n',
        ),
        (
            "timestamp_out_of_range",
            b'{"id": "ancient", "text": "Old.", "timestamp": -2208988800}\n',
        ),
        (
            "invalid_utf8",
            b'{"id": "surrogate", "text": "lone \\ud800 surrogate", "timestamp": "2019-01-01"}\n',
        ),
    ]
    counts: dict[str, int] = {}
    step = max(1, len(parts[0]) // len(broken_lines))
    with open(raw / "part-00000.jsonl", "wb") as f:
        for i, doc in enumerate(parts[0]):
            f.write(_dumps(doc))
            if i % step == 0 and broken_lines:
                kind, line = broken_lines.pop(0)
                f.write(line)
                counts[kind] = counts.get(kind, 0) + 1
        f.write(b"\n   \n")  # blank lines are not records
        huge = {"id": "huge", "text": "word " * (huge_doc_bytes // 5), "timestamp": "2019-06-01"}
        f.write(_dumps(huge))
        counts["too_large"] = 1
    with gzip.GzipFile(raw / "part-00001.jsonl.gz", "wb", mtime=0) as f:
        f.writelines(_dumps(d) for d in parts[1])
    with open(raw / "part-00002.jsonl.zst", "wb") as f:
        f.write(zstandard.ZstdCompressor().compress(b"".join(_dumps(d) for d in parts[2])))
    table = pa.Table.from_pylist(
        [{k: d.get(k) for k in ("id", "text", "timestamp", "source", "url")} for d in parts[3]]
    )
    pq.write_table(table, raw / "part-00003.parquet")
    # A truncated gzip: the records before the cut are read, the cut is one quarantine entry.
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.writelines(_dumps(d) for d in filler)
    data = buf.getvalue()
    (raw / "part-00004.jsonl.gz").write_bytes(data[: len(data) * 3 // 4])
    counts["read_error"] = 1
    return dict(sorted(counts.items()))
