"""Document filters: each module defines one filter class registered under its name."""
