# Run by each child forked from a 2.x/3.x warm runner, before its demo (the code of
# [ranges.warm] reset). Prefect reads its settings into a global context at import, so
# each child reads them again from its own environment (its own PREFECT_HOME).
# Runs inside the release's interpreter: standard library and prefect only, Python 3.7 syntax.
import prefect.context

prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.root_settings_context()
