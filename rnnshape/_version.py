__version__ = "0.1.0"

# The version of every JSON document's layout (report, check, infer): bumped only for a
# breaking change, as ``pip inspect`` promises.
SCHEMA_VERSION = 1
