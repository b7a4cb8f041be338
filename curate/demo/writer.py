"""The demo's vocabulary and the seeded writer of its dated articles: topics that rise and fall
over the years, events, foreign-language pages, toxic lines and boilerplate."""

from __future__ import annotations

import random
from datetime import datetime, timezone

START = datetime(2016, 1, 1, tzinfo=timezone.utc)


END = datetime(2024, 1, 1, tzinfo=timezone.utc)


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
