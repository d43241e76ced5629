"""scrydon-drill: disaster-recovery drills for the Scrydon platform.

The package is the library behind the ``scrydon-drill`` command and the pytest plugin
registered as ``scrydon_drill``. Heavy or optional dependencies are imported lazily
by the modules that need them, so importing :mod:`harness` stays cheap.
"""

__version__ = "0.1.0"
