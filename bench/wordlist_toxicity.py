"""A word-list toxicity baseline (better-profanity) on texts read from stdin, one JSON string
per line; prints one 0/1 per line. Runs in the benchmark environment (bench/.venv)."""

import json
import sys

from better_profanity import profanity

for line in sys.stdin:
    print(int(profanity.contains_profanity(json.loads(line))))
