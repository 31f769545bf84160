# Run by each child forked from a 0.15-1.x warm runner, before its demo (the code of
# [ranges.warm] reset). 0.x/1.x read their config at import into objects other modules
# hold (prefect.config, prefect.context, the "prefect" logger), so this refills those
# same objects from the child's own environment, config file paths included.
# Runs inside the release's interpreter: standard library and prefect only, Python 3.7 syntax.
import logging
import os

import prefect
import prefect.configuration as configuration

configuration.USER_CONFIG = os.getenv("PREFECT__USER_CONFIG_PATH", "~/.prefect/config.toml")
configuration.BACKEND_CONFIG = os.getenv("PREFECT__BACKEND_CONFIG_PATH", "~/.prefect/backend.toml")
fresh = configuration.load_default_config()
prefect.config.clear()
prefect.config.update(fresh)
prefect.context.clear()
type(prefect.context).__init__(prefect.context)
logging.getLogger("prefect").handlers.clear()
prefect.context.logger = prefect.utilities.logging.prefect_logger = prefect.utilities.logging.configure_logging()
