"""The one exception type the CLI turns into a single clear line."""


class PipelineError(Exception):
    """A user-facing error: bad input, missing data, invalid config.

    The message must say what was wrong and what is accepted; the CLI prints it
    as one line and exits non-zero, without a traceback.
    """
