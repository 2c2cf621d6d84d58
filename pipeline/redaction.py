"""Secret values kept out of what shipway writes: the console's lines, a failed task's
forensics, the records saved to files.

Its own module, importing nothing of shipway's, because the console, the context and the
swarm's forensics all need it and none of them should import another for it.
"""
MASK = "***"


def redact(text, secrets):
    """`text` with every secret value (4 characters or more) replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, MASK)
    return text


def redacted(data, secrets):
    """`data` (JSON-ready: dicts, lists, strings) with every secret value in it replaced by
    ***: for records written to files, which the console's masking does not see."""
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, dict):
        return {key: redacted(value, secrets) for key, value in data.items()}
    if isinstance(data, list):
        return [redacted(value, secrets) for value in data]
    return data
