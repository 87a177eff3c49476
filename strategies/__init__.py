"""Strategy plug-ins shipped with ltbot; drop your own module here, in a `[strategies] paths`
directory, or name it as `module:Class` (bot/config/strategy_loader.py says how each is found)."""
