"""The service catalog: one YAML file, read, checked and resolved into each service's
settings. Every stage that takes --catalog calls `load`.

    document.py       load / from_data: the file resolved into a Catalog (merge, defaults)
    loader.py         YAML to a document: PyYAML's C parser, a key given twice refused
    schema.py         the one walker: a mapping checked against rules, errors naming the key
    values.py         value checks every schema shares (whole numbers, durations, choices...)
    keys.py           shipway's own keys: service names, image, build, jenkins, run options
    analysis_keys.py  `deploy.analysis` (judging a release during a deploy: pipeline/analysis.py)
    notify_keys.py    `notify:` webhooks (sending them: pipeline/notify.py), a bare `on` key
    compose_keys.py   the stack-file (compose v3) service keys, brought to one long form
    compose_defs.py   top-level secrets/configs/networks/volumes; checks across a service's keys
    compose_file.py   one service of a stack file, read as `docker stack deploy` reads it
    env_file.py       env files, read as docker reads them

The catalog says what a service should be; turning its stack-file keys into an Engine
ServiceSpec is the swarm's (pipeline/swarm/compose.py). Nothing here imports pipeline.swarm.
"""
from pipeline.catalog.document import Catalog, from_data, load, merge
from pipeline.catalog.keys import DEFAULTS, SERVICE_NAME, SERVICE_NAME_RULE

__all__ = ["DEFAULTS", "SERVICE_NAME", "SERVICE_NAME_RULE", "Catalog", "from_data", "load",
           "merge"]
